package node

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cmtcrypto "github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
)

// InitOptions describe a new home.
type InitOptions struct {
	Config Config
	// Genesis, if set, is the app state of a new chain whose only validator
	// is this node; the genesis node registered with this node's ID gets
	// its validator key (ledger.GenesisNode.ValidatorKey).
	Genesis *ledger.Genesis
	// GenesisFile, if set instead, is an existing chain's genesis to join.
	GenesisFile string
}

// Init creates a new home: node and validator keys, configuration and genesis.
// It refuses to touch a home that already exists.
func Init(h Home, opts InitOptions) error {
	if h.Exists() {
		return fmt.Errorf("%s is already initialized; use another --home or remove it on purpose", h)
	}
	if (opts.Genesis == nil) == (opts.GenesisFile == "") {
		return fmt.Errorf("init: give either a new chain's genesis or a genesis file to join")
	}
	for _, d := range []string{h.configDir(), h.DataDir(), h.KeysDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("init %s: %w", h, err)
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(h.NodeKeyFile())
	if err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	pv, err := privval.LoadOrGenFilePV(h.ValidatorKeyFile(), h.ValidatorStateFile(), func() (cmtcrypto.PrivKey, error) {
		return ed25519.GenPrivKey(), nil
	})
	if err != nil {
		return fmt.Errorf("validator key: %w", err)
	}
	var doc *types.GenesisDoc
	if opts.Genesis != nil {
		pub, err := pv.GetPubKey()
		if err != nil {
			return err
		}
		g := withValidatorKey(*opts.Genesis, string(nk.ID()), pub)
		doc, err = newGenesisDoc(opts.Config.ChainID, g, []types.GenesisValidator{{
			Address: pub.Address(), PubKey: pub, Power: 10, Name: opts.Config.Moniker,
		}})
		if err != nil {
			return err
		}
	} else {
		if doc, err = types.GenesisDocFromFile(opts.GenesisFile); err != nil {
			return fmt.Errorf("genesis to join: %w", err)
		}
		if opts.Config.ChainID != "" && opts.Config.ChainID != doc.ChainID {
			return fmt.Errorf("genesis is for chain %q, not %q", doc.ChainID, opts.Config.ChainID)
		}
		opts.Config.ChainID = doc.ChainID
	}
	if err := doc.SaveAs(h.GenesisFile()); err != nil {
		return fmt.Errorf("save genesis: %w", err)
	}
	if err := h.writeFormat(CurrentFormat); err != nil {
		return fmt.Errorf("record home format: %w", err)
	}
	// Written last: a home counts as initialized only when everything else is there.
	return h.SaveConfig(opts.Config)
}

// withValidatorKey is g with pub as the validator key of the genesis node
// registered with nodeID, if there is one: the recorded genesis validator
// then names that node principal.
func withValidatorKey(g ledger.Genesis, nodeID string, pub cmtcrypto.PubKey) ledger.Genesis {
	g.Nodes = slices.Clone(g.Nodes)
	for i, n := range g.Nodes {
		if n.NodeID == nodeID && n.ValidatorKey == nil {
			g.Nodes[i].ValidatorKey = pub.Bytes()
		}
	}
	return g
}

// newGenesisDoc is the genesis of a new chain with validators vals: the
// ledger records them (ledger.Genesis.ValidatorSet) and keeps the supply
// map from its first block (ledger.Genesis.SupplyMap).
func newGenesisDoc(chainID string, g ledger.Genesis, vals []types.GenesisValidator) (*types.GenesisDoc, error) {
	g.ValidatorSet, g.SupplyMap = true, true
	if err := g.Validate(); err != nil {
		return nil, err
	}
	state, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	doc := &types.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     time.Now().UTC().Truncate(time.Millisecond),
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		Validators:      vals,
		AppState:        state,
	}
	doc.ConsensusParams.Block.MaxBytes = 8 << 20
	// Blocks carry their proposer's time, not the commit time of the
	// block before (stale after the chain idles): see ledger/pbts.go.
	doc.ConsensusParams.Feature.PbtsEnableHeight = 1
	doc.ConsensusParams.Synchrony = types.SynchronyParams{Precision: ledger.PBTSPrecision, MessageDelay: ledger.PBTSMessageDelay}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return doc, nil
}

// TestnetOptions describe a local consortium.
type TestnetOptions struct {
	Validators int
	ChainID    string
	// Genesis is the app state shared by all nodes.
	Genesis ledger.Genesis
	// BasePort: node i listens for p2p on BasePort+2i and HTTP on BasePort+2i+1,
	// all on 127.0.0.1. 0 picks free ports.
	BasePort int
	// Tune, if set, edits each node's configuration before it is written.
	Tune func(i int, c *Config)
	// Node gives node i (home h, whose node key exists by then) the node
	// principal listed for it in the genesis, usually NewNodePrincipal's;
	// Testnet sets its ValidatorKey to node i's validator key.
	// Only registered nodes peer, so it is required for more than one
	// validator.
	Node func(i int, h Home) (ledger.GenesisNode, error)
}

// Testnet writes homes dir/node0 … dir/node{N-1} for an N-validator consortium
// on 127.0.0.1 with distinct ports. Each is started with `carechain start --home dir/nodeI`.
func Testnet(dir string, opts TestnetOptions) ([]Home, error) {
	if opts.Validators < 1 {
		return nil, fmt.Errorf("testnet: need at least one validator")
	}
	if opts.Validators > 1 && opts.Node == nil {
		return nil, fmt.Errorf("testnet: give each node a node principal (TestnetOptions.Node): only registered nodes peer")
	}
	g := opts.Genesis
	g.Nodes = slices.Clone(g.Nodes)
	homes := make([]Home, opts.Validators)
	configs := make([]Config, opts.Validators)
	var vals []types.GenesisValidator
	var peers []string
	for i := range homes {
		h := Home(filepath.Join(dir, "node"+strconv.Itoa(i)))
		nodeID, pub, err := testnetKeys(h)
		if err != nil {
			return nil, err
		}
		c := DefaultConfig(opts.ChainID, fmt.Sprintf("node%d", i))
		p2pPort, httpPort, err := testnetPorts(opts.BasePort, i)
		if err != nil {
			return nil, err
		}
		c.P2PAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort))
		c.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
		configs[i] = c
		homes[i] = h
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: c.Moniker})
		peers = append(peers, string(nodeID)+"@"+c.P2PAddr)
		if opts.Node != nil {
			gn, err := opts.Node(i, h)
			if err != nil {
				return nil, fmt.Errorf("node principal of %s: %w", h, err)
			}
			if gn.ValidatorKey == nil && gn.NodeID == string(nodeID) {
				gn.ValidatorKey = pub.Bytes()
			}
			g.Nodes = append(g.Nodes, gn)
		}
	}
	doc, err := newGenesisDoc(opts.ChainID, g, vals)
	if err != nil {
		return nil, err
	}
	for i, h := range homes {
		if err := doc.SaveAs(h.GenesisFile()); err != nil {
			return nil, err
		}
		c := configs[i]
		for j, p := range peers {
			if j != i {
				c.Peers = append(c.Peers, p)
			}
		}
		if opts.Tune != nil {
			opts.Tune(i, &c)
		}
		if err := h.writeFormat(CurrentFormat); err != nil {
			return nil, fmt.Errorf("record home format: %w", err)
		}
		if err := h.SaveConfig(c); err != nil {
			return nil, err
		}
	}
	return homes, nil
}

// testnetKeys makes a testnet home's directories, node key and validator key.
func testnetKeys(h Home) (p2p.ID, cmtcrypto.PubKey, error) {
	if h.Exists() {
		return "", nil, fmt.Errorf("%s is already initialized", h)
	}
	for _, d := range []string{h.configDir(), h.DataDir(), h.KeysDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, err
		}
	}
	nk, err := p2p.LoadOrGenNodeKey(h.NodeKeyFile())
	if err != nil {
		return "", nil, err
	}
	pv, err := privval.GenFilePV(h.ValidatorKeyFile(), h.ValidatorStateFile(), func() (cmtcrypto.PrivKey, error) {
		return ed25519.GenPrivKey(), nil
	})
	if err != nil {
		return "", nil, err
	}
	pv.Save()
	pub, err := pv.GetPubKey()
	return nk.ID(), pub, err
}

// NodeID returns the CometBFT node ID of h, the address of its p2p key,
// creating the key if the home has none yet (Init and Testnet keep it). A
// node principal is registered under this ID.
func (h Home) NodeID() (string, error) {
	if err := os.MkdirAll(h.configDir(), 0o700); err != nil {
		return "", err
	}
	nk, err := p2p.LoadOrGenNodeKey(h.NodeKeyFile())
	if err != nil {
		return "", fmt.Errorf("node key: %w", err)
	}
	return string(nk.ID()), nil
}

// NewNodePrincipal creates the signing key of h's node principal id
// ("<org>/<name>") in ks, named "<org>.<name>" and encrypted with
// passphrase, and returns the genesis entry that registers it under h's node
// ID. The node anchors access events with that key (`carechain start` finds
// it by the node ID).
func NewNodePrincipal(h Home, ks *keystore.Store, id string, passphrase []byte) (ledger.GenesisNode, error) {
	if err := carechain.ValidatePrincipalID(id); err != nil || carechain.OrgOf(id) == "" {
		return ledger.GenesisNode{}, fmt.Errorf("node principal %q: want <org>/<name>, name of [a-z0-9._-]", id)
	}
	nodeID, err := h.NodeID()
	if err != nil {
		return ledger.GenesisNode{}, err
	}
	pub, err := ks.Create(strings.ReplaceAll(id, "/", "."), passphrase)
	if err != nil {
		return ledger.GenesisNode{}, fmt.Errorf("key of node %s: %w", id, err)
	}
	return ledger.GenesisNode{ID: id, NodeID: nodeID, PublicKey: pub}, nil
}

func testnetPorts(base, i int) (p2pPort, httpPort int, err error) {
	if base != 0 {
		return base + 2*i, base + 2*i + 1, nil
	}
	if p2pPort, err = freePort(); err != nil {
		return 0, 0, err
	}
	httpPort, err = freePort()
	return p2pPort, httpPort, err
}
