package demo

import (
	"testing"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// TestPlanCoversTheCatalogue: the demo plan's rules parse as the ledger
// parses them and cover each service of St Mary's catalogue by its code,
// the chest X-ray only with a prior authorization; every Coverage is
// valid R4 under that plan, and every fifth patient has none.
func TestPlanCoversTheCatalogue(t *testing.T) {
	rules, err := claims.ParseRules(PlanRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fees {
		b := rules.Benefit(f.system, f.code)
		if b == nil {
			t.Errorf("the plan does not cover %s (%s)", f.title, f.code)
			continue
		}
		if b.PriorAuth != (f.code == ChestXRayCode) {
			t.Errorf("%s: prior authorization %v", f.title, b.PriorAuth)
		}
	}
	covered := 0
	for i := 1; i <= PatientCount; i++ {
		if !Covered(i) {
			continue
		}
		covered++
		item := coverageRecord(i)
		res, err := fhirjson.Parse(item.Resource)
		if err != nil {
			t.Fatalf("coverage of demo-%02d: %v", i, err)
		}
		if cov, err := records.ParseCoverage(res.Canonical()); err != nil || cov.Insurer != Insurer || cov.Plan != Plan || cov.Patient != PatientID(i) {
			t.Errorf("coverage of demo-%02d: %+v %v", i, cov, err)
		}
	}
	if covered != PatientCount-PatientCount/5 || !Covered(12) || Covered(10) {
		t.Errorf("%d patients covered", covered)
	}
}
