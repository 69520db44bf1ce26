package records_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/ledger"
)

// TestClaimLimitsPerYear: under a plan that covers one visit a year, two
// claims of the patient wait for the insurer's node, which decides both
// in one round: the first is approved, the second denied with the year's
// count. The hospital's node re-runs each and agrees, usage commitments
// included, though it reads only the claims it made; the patient's EOB
// shows the usage after each.
func TestClaimLimitsPerYear(t *testing.T) {
	w := newClaimsWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.publishAndCover(ctx, []byte(`{"currency":"EUR","benefits":[{"system":"cpt","code":"99213","maxUnitPrice":10000,"maxPerYear":1}],"annualMax":50000}`))
	clerk := w.signers["hosp-a/clerk"]
	var ids []string
	for i, date := range []string{"2026-03-01", "2026-09-01"} {
		c, err := w.svc[0].SubmitClaim(ctx, clerk, "visit-"+date, claimJSON("claim", "cov-1", "99213", "80.00", date, "CLAIMMARKER-"+date))
		if err != nil {
			t.Fatalf("claim %d: %v", i, err) // the provider's check applies no yearly limit: it cannot see the year's usage
		}
		ids = append(ids, c.ID)
	}
	w.waitHeight(1, w.nodes[0].App().Latest().Height())
	if n, err := w.svc[1].AdjudicatePending(ctx, w.signers["ins/node1"]); n != 2 || err != nil {
		t.Fatalf("adjudicated %d: %v", n, err)
	}
	first, second := w.waitAdjudicated(0, ids[0]), w.waitAdjudicated(0, ids[1])
	if first.Outcome != claims.OutcomeApproved || second.Outcome != claims.OutcomeDenied || len(first.Usage) != 32 || string(second.PrevUsage) != string(first.Usage) {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	for _, id := range ids {
		ver, err := w.svc[0].VerifyAdjudication(ctx, clerk.ID, id)
		if err != nil || !ver.Agrees {
			t.Fatalf("re-run of %s on the hospital's node: %+v %v", id, ver, err)
		}
	}
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	doc, err := w.svc[0].ReadClaim(ctx, w.patient.ID, ids[1], "ExplanationOfBenefit")
	if err != nil {
		t.Fatal(err)
	}
	year := fmt.Sprintf("covers 1 a year, and 1 were used in %d", ledger.ClaimYear(doc.State)) // the year of submission
	if r := doc.Result; !strings.Contains(r.Items[0].Reason, year) || r.UsageBefore.Paid != 8000 || r.UsageAfter.Units["cpt|99213"] != 1 {
		t.Fatalf("the second claim's decision: %+v", r)
	}
}
