package records_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestCustodyIndexAcrossRestartAndLateKeys: the node indexes its custody
// notes from the sealed journal on disk once. A service started again over
// the same journal finds the custody keys of units committed before (it
// ships them), and notes of an organization whose key reaches the node
// only after the index was read (the entries stay sealed until then) are
// found once the key is there, in journal order, with the notes added
// since. Until then the node holds none of that organization's units.
func TestCustodyIndexAcrossRestartAndLateKeys(t *testing.T) {
	w, n, kr := oneSupplyNode(t, []carechain.Organization{
		{ID: "acme", Name: "Acme", Type: carechain.OrgManufacturer},
		{ID: "dist", Name: "Dist", Type: carechain.OrgWholesaler},
		{ID: "pharm", Name: "Pharm", Type: carechain.OrgPharmacy},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	q, err := store.OpenQueue(filepath.Join(t.TempDir(), "supply-journal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	first, err := records.New(n, kr, records.Options{SupplyJournal: q})
	if err != nil {
		t.Fatal(err)
	}
	const gtin = "00312345678906"
	as := func(org string) records.Signer { return w.signers[org+"/admin"] }
	if err := first.SupplyRegister(ctx, as("acme"), supply.Product{GTIN: gtin, Name: "Amoxicillin", Kind: supply.KindDrug, Private: true}); err != nil {
		t.Fatal(err)
	}
	serials := []string{"IDX-1", "IDX-2", "IDX-3"}
	for _, step := range []func() error{
		func() error { return first.SupplyCommission(ctx, as("acme"), gtin, "L1", "2030-12-31", serials) },
		func() error { return first.SupplyMove(ctx, as("acme"), tx.MoveShip, gtin, "dist", serials) },
		func() error { return first.SupplyMove(ctx, as("dist"), tx.MoveReceive, gtin, "", serials) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	// Restarted, without dist's key: dist's entries stay sealed.
	distKey := w.orgKeys["dist"]
	kr.Remove("dist")
	again, err := records.New(n, kr, records.Options{SupplyJournal: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := again.SupplyMove(ctx, as("dist"), tx.MoveShip, gtin, "pharm", serials[:1]); err == nil {
		t.Fatal("a node without dist's key shipped dist's units")
	}
	kr.Add("dist", distKey)
	if err := again.SupplyMove(ctx, as("dist"), tx.MoveShip, gtin, "pharm", serials[:1]); err != nil {
		t.Fatalf("dist's units once its key is here: %v", err)
	}
	if err := again.SupplyMove(ctx, as("dist"), tx.MoveShip, gtin, "pharm", serials[1:]); err != nil {
		t.Fatalf("dist's units after a ship of some: %v", err)
	}
	pharm, err := n.App().Latest().Principal("pharm/admin")
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range serials {
		v, err := again.VerifyUnit(pharm, supply.Scan{GTIN: gtin, Serial: sn, Seller: "dist"})
		if err != nil || !v.Genuine {
			t.Fatalf("%s at pharm: %v %+v", sn, err, v)
		}
	}
	if err := again.SupplyMove(ctx, as("pharm"), tx.MoveReceive, gtin, "", serials[:1]); err != nil {
		t.Fatal(err)
	}
	// A third start reads everything, pharm's receive included.
	third, err := records.New(n, kr, records.Options{SupplyJournal: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.SupplyMove(ctx, as("pharm"), tx.MoveDecommission, gtin, "", serials[:1]); err != nil {
		t.Fatal(err)
	}
	if err := third.SupplyMove(ctx, as("dist"), tx.MoveDecommission, gtin, "", serials[1:2]); err == nil || !strings.Contains(err.Error(), "in transit") {
		t.Fatalf("dist decommissions a unit it shipped: %v", err)
	}
}
