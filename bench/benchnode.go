package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// org is the benchmark chain's one organization, a hospital administered by
// adminID, whose node anchors access events as nodeID.
const (
	org     = "bench"
	adminID = "bench/admin"
	nodeID  = "bench/node0"
)

// nodeKey is the node principal's key, fixed like the admin's.
func nodeKey() ed25519.PrivateKey { return nodeKeyOf(0) }

// nodeKeyOf is the key of validator i's node principal.
func nodeKeyOf(i int) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = 1, byte(i)
	return ed25519.NewKeyFromSeed(seed)
}

// registerWindow is how many registrations are in flight during setup.
const registerWindow = 1000

// adminKey is the administrator's key. It is fixed: nothing here is secret.
func adminKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) }

// genesis is a chain whose one organization is administered by admin; its
// staff read records through orgKey (nil: no records are written).
func genesis(admin ed25519.PrivateKey, orgKey []byte) ledger.Genesis {
	return ledger.Genesis{Organizations: []ledger.GenesisOrg{{
		Organization: carechain.Organization{ID: org, Name: "Bench Hospital", Type: carechain.OrgHospital, EncryptionKey: orgKey},
		Admins:       []ledger.GenesisAdmin{{ID: adminID, PublicKey: admin.Public().(ed25519.PublicKey)}},
	}}}
}

// startNode writes a one-validator home under dir and starts it with start
// (its App nil: the ledger), then waits for its first block. The node starts the next
// height at once after a commit (timeout_commit 0) unless tune says otherwise.
func startNode(ctx context.Context, dir, chainID string, g ledger.Genesis, tune func(*node.Config), start node.StartOptions) (*node.Node, error) {
	nodes, err := startNodes(ctx, dir, chainID, 1, g, tune, start)
	if err != nil {
		return nil, err
	}
	return nodes[0], nil
}

// startNodes is startNode for a chain of validators validators of equal
// power, all in this process, peered over loopback; the first is nodeID.
func startNodes(ctx context.Context, dir, chainID string, validators int, g ledger.Genesis, tune func(*node.Config), start node.StartOptions) ([]*node.Node, error) {
	homes, err := node.Testnet(dir, node.TestnetOptions{Validators: validators, ChainID: chainID, Genesis: g, Tune: func(_ int, c *node.Config) {
		c.TimeoutCommit = 0
		if tune != nil {
			tune(c)
		}
	}, Node: func(i int, h node.Home) (ledger.GenesisNode, error) {
		id, err := h.NodeID()
		return ledger.GenesisNode{ID: fmt.Sprintf("%s/node%d", org, i), NodeID: id, PublicKey: nodeKeyOf(i).Public().(ed25519.PublicKey)}, err
	}})
	if err != nil {
		return nil, fmt.Errorf("bench home: %w", err)
	}
	var nodes []*node.Node
	stop := func() {
		for _, n := range nodes {
			n.Stop()
		}
	}
	for i, h := range homes {
		n, err := node.Start(ctx, h, start)
		if err != nil {
			stop()
			return nil, fmt.Errorf("start bench node %d: %w", i, err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitReady(ctx); err != nil {
			stop()
			return nil, err
		}
	}
	return nodes, nil
}

// recordsNode is a started ledger node in a temporary home with a records
// service that holds the organization's key.
type recordsNode struct {
	node     *node.Node
	svc      *records.Service
	journal  *store.Queue
	index    *store.Index   // nil unless started by startIndexedNode
	anchorer records.Signer // the node principal
	admin    records.Signer
	chainID  string
	dir      string
	nonce    uint64 // the admin's last used nonce
}

// startRecordsNode starts a records node for chain chainID; Close removes it.
func startRecordsNode(ctx context.Context, chainID string) (*recordsNode, error) {
	return newRecordsNode(ctx, chainID, false, trust.Bypass{})
}

// startBypassNode is startRecordsNode with its ledger and records service
// under bypass (package trust: switched off only in a build with -tags
// notrust).
func startBypassNode(ctx context.Context, chainID string, bypass trust.Bypass) (*recordsNode, error) {
	return newRecordsNode(ctx, chainID, false, bypass)
}

// startIndexedNode is startRecordsNode with a blind search index, kept
// where carechain start keeps it (HOME/search-index, see indexDir).
func startIndexedNode(ctx context.Context, chainID string) (*recordsNode, error) {
	return newRecordsNode(ctx, chainID, true, trust.Bypass{})
}

// indexDir is where a node started by startIndexedNode keeps its index.
func (b *recordsNode) indexDir() string { return filepath.Join(b.dir, "search-index") }

// newRecordsNode starts a records node, with a search index if indexed,
// its ledger and records service under bypass.
func newRecordsNode(ctx context.Context, chainID string, indexed bool, bypass trust.Bypass) (_ *recordsNode, err error) {
	dir, err := os.MkdirTemp("", chainID+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	orgKey, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	admin := records.Signer{ID: adminID, Key: adminKey()}
	n, err := startNode(ctx, dir, chainID, genesis(admin.Key, orgKey.Public().Bytes()), nil, node.StartOptions{Bypass: bypass})
	if err != nil {
		return nil, err
	}
	kr := &records.Keyring{}
	kr.Add(org, orgKey)
	// Every access event is synced to a journal before its read is
	// answered, as on a real node.
	journal, err := store.OpenQueue(filepath.Join(dir, "audit-journal"))
	if err != nil {
		n.Stop()
		return nil, err
	}
	bn := &recordsNode{node: n, journal: journal, anchorer: records.Signer{ID: nodeID, Key: nodeKey()},
		admin: admin, chainID: chainID, dir: dir}
	if indexed {
		if bn.index, err = store.OpenIndex(bn.indexDir()); err != nil {
			bn.Close()
			return nil, fmt.Errorf("search index: %w", err)
		}
	}
	if bn.svc, err = records.New(n, kr, records.Options{Node: "bench", Journal: journal, Index: bn.index, Bypass: bypass}); err != nil {
		bn.Close()
		return nil, fmt.Errorf("records service: %w", err)
	}
	return bn, nil
}

// Close stops the node (a no-op if it is stopped) and removes its home.
func (b *recordsNode) Close() {
	b.node.Stop()
	if b.journal != nil {
		b.journal.Close()
	}
	if b.index != nil {
		b.index.Close()
	}
	os.RemoveAll(b.dir)
}

// register signs regs with the admin's next nonces and commits them.
func (b *recordsNode) register(ctx context.Context, regs ...*tx.Register) error {
	raws := make([][]byte, len(regs))
	for i, r := range regs {
		b.nonce++
		raw, err := tx.Sign(b.admin.Key, b.chainID, b.admin.ID, b.nonce, tx.TypeRegister, r)
		if err != nil {
			return fmt.Errorf("sign registration of %s: %w", r.ID, err)
		}
		raws[i] = raw
	}
	if _, err := pipeline(ctx, b.node, raws, registerWindow); err != nil {
		return fmt.Errorf("bench setup: %w", err)
	}
	return nil
}

// practitioner is a new signer with id and its registration with role.
func practitioner(id string, role carechain.Role) (records.Signer, *tx.Register) {
	_, k, _ := ed25519.GenerateKey(nil)
	return records.Signer{ID: id, Key: k}, &tx.Register{ID: id, Kind: carechain.KindPractitioner,
		Roles: []carechain.Role{role}, PublicKey: k.Public().(ed25519.PublicKey)}
}

// patient is a new signer with id and its registration as a patient whose
// records are sealed to encryptionKey (nil: the patient has no records).
func patient(id string, encryptionKey []byte) (records.Signer, *tx.Register) {
	_, k, _ := ed25519.GenerateKey(nil)
	return records.Signer{ID: id, Key: k}, &tx.Register{ID: id, Kind: carechain.KindPatient,
		PublicKey: k.Public().(ed25519.PublicKey), EncryptionKey: encryptionKey}
}
