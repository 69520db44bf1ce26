package records_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
)

// TestSupplyJournalIsSealedAndPerOrganization captures EPCIS events on one
// node serving a manufacturer, its wholesaler and a competitor: each
// organization reads back only its own events, the journal on disk holds
// no serial in plain, and a capture naming a product the organization
// holds no key of is refused before anything is written.
func TestSupplyJournalIsSealedAndPerOrganization(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "rival", Name: "Rival", Type: carechain.OrgWholesaler},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "supply-journal")
	q, err := store.OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	svc, err := records.New(n, kr, records.Options{SupplyJournal: q})
	if err != nil {
		t.Fatal(err)
	}
	const gtin = "00312345678906"
	if err := svc.SupplyRegister(ctx, w.signers["acme/admin"], supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"JRNL-SERIAL-0001", "JRNL-SERIAL-0002"}
	events := []supply.Event{
		{Action: supply.ActCommission, GTIN: gtin, Serials: serials, Lot: "L1", Expiry: "2030-12-31"},
		{Action: supply.ActShip, GTIN: gtin, Serials: serials[:1], To: "dist"},
	}
	// rival holds no key of the product: refused at event #0, nothing written.
	_, err = svc.SupplyCapture(ctx, w.signers["rival/admin"], events)
	var ee *supply.EventError
	if !errors.As(err, &ee) || ee.Index != 0 || !errors.Is(err, records.ErrSupplyNoKey) || q.Len() != 0 {
		t.Fatalf("rival's capture: %v (journal holds %d)", err, q.Len())
	}
	heights, err := svc.SupplyCapture(ctx, w.signers["acme/admin"], events)
	if err != nil || len(heights) != 2 {
		t.Fatalf("acme's capture: %v %v", heights, err)
	}
	if err := svc.SupplyMove(ctx, w.signers["dist/admin"], supply.ActReceive, gtin, "", serials[:1]); err != nil {
		t.Fatal(err)
	}
	// The portal's flag and recall (records.SupplyFlag, SupplyRecall) are journaled too.
	if err := svc.SupplyFlag(ctx, w.signers["dist/admin"], gtin, serials[0], false, "seal broken"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SupplyRecall(ctx, w.signers["acme/admin"], gtin, "L1", "sterility failure"); err != nil {
		t.Fatal(err)
	}
	principal := func(id string) *carechain.Principal {
		p, err := n.App().Latest().Principal(id)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for org, want := range map[string]string{"acme": "commission ship recall", "dist": "receive flag", "rival": ""} {
		got, err := svc.SupplyEvents(principal(org+"/admin"), supply.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var acts []string
		for _, e := range got {
			acts = append(acts, e.Action)
			if e.Org != org {
				t.Errorf("%s's event recorded for %s", org, e.Org)
			}
		}
		if s := strings.Join(acts, " "); s != want {
			t.Errorf("%s's events: %q, want %q", org, s, want)
		}
	}
	q.Close()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, sn := range serials {
			if bytes.Contains(b, []byte(sn)) {
				t.Errorf("%s holds serial %s in plain", path, sn)
			}
		}
		return nil
	})
}

// oneSupplyNode starts one validator of a consortium of orgs, each with its
// admin, and returns the keyring of every organization's key, as a node
// serving them all holds.
func oneSupplyNode(t *testing.T, orgs []carechain.Organization) (*world, *node.Node, *records.Keyring) {
	t.Helper()
	w := &world{t: t, signers: map[string]records.Signer{}, orgKeys: map[string]*seal.PrivateKey{}}
	g := w.genesis(orgs)
	homes, err := node.Testnet(t.TempDir(), node.TestnetOptions{Validators: 1, ChainID: chainID, Genesis: g,
		Node: func(_ int, h node.Home) (ledger.GenesisNode, error) {
			s := records.Signer{ID: orgs[0].ID + "/node0", Key: newKey(t)}
			id, err := h.NodeID()
			return ledger.GenesisNode{ID: s.ID, NodeID: id, PublicKey: s.Key.Public().(ed25519.PublicKey)}, err
		},
		Tune: func(_ int, c *node.Config) { c.TimeoutCommit = node.Duration(10 * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := node.Start(ctx, homes[0], node.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	kr := &records.Keyring{}
	for org, k := range w.orgKeys {
		kr.Add(org, k)
	}
	return w, n, kr
}

// newSupplyService is a records service on n with the keys of kr, its
// supply journal in memory.
func newSupplyService(t *testing.T, n *node.Node, kr *records.Keyring) *records.Service {
	t.Helper()
	svc, err := records.New(n, kr, records.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// supplyAdmins finds an organization's admin principal on n.
func supplyAdmins(t *testing.T, n *node.Node) func(org string) *carechain.Principal {
	return func(org string) *carechain.Principal {
		t.Helper()
		p, err := n.App().Latest().Principal(org + "/admin")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}
