package tx

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/carechain/carechain/supply"
)

// TestEPCISExportImportGivesTheSameTxs writes a unit's whole life as an
// EPCIS 2.0 document, reads it back, and finds the same transactions.
func TestEPCISExportImportGivesTheSameTxs(t *testing.T) {
	const gtin, sscc = "00312345678906", "106141412345678908"
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	events := []supply.Event{
		{Action: supply.ActCommission, Time: at, GTIN: gtin, Serials: []string{"SN1", "SN/2", "SN%3"}, Lot: "L1", Expiry: "2030-12-31"},
		{Action: supply.ActShip, Time: at.Add(time.Minute), Org: "acme", GTIN: gtin, Serials: []string{"SN1", "SN/2"}, To: "dist"},
		{Action: supply.ActReceive, Time: at.Add(2 * time.Minute), Org: "dist", GTIN: gtin, Serials: []string{"SN1", "SN/2"}},
		{Action: supply.ActDispense, Time: at.Add(3 * time.Minute), GTIN: gtin, Serials: []string{"SN1"}},
		{Action: supply.ActDecommission, Time: at.Add(4 * time.Minute), GTIN: gtin, Serials: []string{"SN/2"}},
		{Action: supply.ActFlag, Time: at.Add(5 * time.Minute), GTIN: gtin, Serials: []string{"SN%3"}, Reason: "seal broken", WholeLot: true},
		{Action: supply.ActRecall, Time: at.Add(6 * time.Minute), GTIN: gtin, Lot: "L1", Reason: "sterility failure"},
		{Action: supply.ActPack, Time: at.Add(7 * time.Minute), GTIN: gtin, SSCCs: []string{sscc}, Serials: []string{"SN1", "SN/2"}},
		{Action: supply.ActShip, Time: at.Add(8 * time.Minute), Org: "acme", GTIN: gtin, SSCCs: []string{sscc}, To: "dist"},
		{Action: supply.ActReceive, Time: at.Add(9 * time.Minute), Org: "dist", GTIN: gtin, SSCCs: []string{sscc}},
		{Action: supply.ActUnpack, Time: at.Add(10 * time.Minute), GTIN: gtin, SSCCs: []string{sscc}},
	}
	key := make([]byte, supply.KeySize)
	commit := func(sn string) []byte { return supply.Commitment(key, gtin, sn) }
	caseCommit := func(sscc string) []byte { return supply.CaseCommitment(key, gtin, sscc) }
	b, err := json.Marshal(supply.NewEPCISDocument(events, at))
	if err != nil {
		t.Fatal(err)
	}
	back, err := supply.ParseEPCIS(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, events) {
		t.Fatalf("events changed on the way:\n got %+v\nwant %+v", back, events)
	}
	wantTypes := []Type{TypeSupplyCommission, TypeSupplyMove, TypeSupplyMove, TypeSupplyMove, TypeSupplyMove, TypeSupplyFlag, TypeSupplyRecall,
		TypeSupplyAggregate, TypeSupplyCaseMove, TypeSupplyCaseMove, TypeSupplyAggregate}
	for i, e := range events {
		typ, body, err := SupplyEventBody(e, commit, caseCommit)
		if err != nil {
			t.Fatal(err)
		}
		typ2, body2, err := SupplyEventBody(back[i], commit, caseCommit)
		if err != nil {
			t.Fatal(err)
		}
		if typ != wantTypes[i] || typ2 != typ || !reflect.DeepEqual(body, body2) {
			t.Fatalf("event #%d: %s %+v, read back as %s %+v", i, typ, body, typ2, body2)
		}
		if err := body.Validate(); err != nil {
			t.Fatalf("event #%d: the ledger's check refuses %+v: %v", i, body, err)
		}
	}
	if m := mustBody[*SupplyMove](t, events[1], commit, caseCommit); m.To != "dist" || m.Action != MoveShip || len(m.Units) != 2 {
		t.Fatalf("ship: %+v", m)
	}
	if a := mustBody[*SupplyAggregate](t, events[7], commit, caseCommit); a.Action != AggregatePack || len(a.Units) != 2 || string(a.Case) != string(caseCommit(sscc)) {
		t.Fatalf("pack: %+v", a)
	}
	if m := mustBody[*SupplyCaseMove](t, events[8], commit, caseCommit); m.To != "dist" || m.Action != MoveShip || len(m.Cases) != 1 {
		t.Fatalf("ship of a case: %+v", m)
	}
}

func mustBody[T Body](t *testing.T, e supply.Event, commit, caseCommit func(string) []byte) T {
	t.Helper()
	_, b, err := SupplyEventBody(e, commit, caseCommit)
	if err != nil {
		t.Fatal(err)
	}
	return b.(T)
}
