package bench

import (
	"context"
	"testing"
	"time"

	"github.com/carechain/carechain/records"
)

// The benchmarks are measurements, not tests; these runs only check that
// each one still completes at a tiny size and reports what it measured.

func TestLedgerMeasuresLedgerAndCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := DefaultLedgerOptions()
	opts.Txs, opts.Signers, opts.Window = 40, 2, 10
	rep, err := Ledger(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Result{"ledger": rep.Ledger, "ceiling": rep.Ceiling} {
		if r.Txs != opts.Txs || r.Blocks < 1 || r.TxPerSecond() <= 0 {
			t.Errorf("%s: %+v, want %d txs in at least one block", name, r, opts.Txs)
		}
	}
}

func TestRejectsImpossibleSizes(t *testing.T) {
	ctx := context.Background()
	if _, err := Ledger(ctx, LedgerOptions{Txs: 1, Signers: 2, Window: 1}); err == nil {
		t.Error("Ledger: fewer txs than signers accepted")
	}
	if _, err := Records(ctx, RecordsOptions{Puts: 1, Authors: 2, Patients: 1, Window: 1}); err == nil {
		t.Error("Records: fewer puts than authors accepted")
	}
	if _, err := FHIR(ctx, FHIROptions{}); err == nil {
		t.Error("FHIR: no patients accepted")
	}
	if _, err := API(ctx, APIOptions{Patients: 1, PerPatient: 1, Authors: 1, Creates: 1}); err == nil {
		t.Error("API: no reads accepted")
	}
	if _, err := Proofs(ctx, ProofsOptions{}); err == nil {
		t.Error("Proofs: no records accepted")
	}
	if _, err := Amend(ctx, AmendOptions{Proposals: 1, Parallel: 1}); err == nil {
		t.Error("Amend: a single proposal accepted")
	}
	if _, err := Sync(ctx, SyncOptions{Records: 1, Authors: 2, Patients: 1, Window: 1}); err == nil {
		t.Error("Sync: fewer records than authors accepted")
	}
	for _, o := range []SearchOptions{{}, {Patients: 1, Records: 1, Granted: 1, Queries: 1, Clients: 1, Loaders: 1},
		{Patients: 1, Records: 2, Granted: 0, Queries: 1, Clients: 1, Loaders: 1}} {
		if _, err := Search(ctx, o); err == nil {
			t.Errorf("Search: %+v accepted", o)
		}
	}
}

// TestSearchPopulationStaysUnderTheIndexLimit: at the default size, every
// search across patients that Search times reads at most
// records.MaxIndexCandidates candidates, and the grants are the fraction
// asked for.
func TestSearchPopulationStaysUnderTheIndexLimit(t *testing.T) {
	d := newSearchData(DefaultSearchOptions())
	panels, families, births, granted := map[string]int{}, map[string]int{}, map[string]int{}, 0
	for i := range d.opts.Patients {
		_, code, _ := d.code(i, d.opts.Records-2)
		panels[code]++
		families[d.family(i)]++
		births[d.birthDate(i)]++
		if d.granted(i) {
			granted++
		}
	}
	for what, counts := range map[string]map[string]int{"panel code": panels, "family": families, "birth date": births} {
		for v, n := range counts {
			if n > records.MaxIndexCandidates {
				t.Errorf("%s %s is on %d records, more than %d", what, v, n, records.MaxIndexCandidates)
			}
		}
	}
	if len(panels) != d.panels || granted != d.opts.Patients/2 {
		t.Errorf("%d panel codes (want %d), %d patients granted (want %d)", len(panels), d.panels, granted, d.opts.Patients/2)
	}
}

func TestPercentiles(t *testing.T) {
	for _, c := range []struct {
		lat      []time.Duration
		p50, p99 time.Duration
	}{
		{nil, 0, 0},
		{[]time.Duration{3, 1, 2}, 2, 3},
		{[]time.Duration{5, 4, 3, 2, 1, 10, 9, 8, 7, 6}, 6, 10},
	} {
		p50, p99 := percentiles(c.lat)
		if p50 != c.p50 || p99 != c.p99 {
			t.Errorf("percentiles(%v) = %v, %v; want %v, %v", c.lat, p50, p99, c.p50, c.p99)
		}
	}
}
