package records_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// TestDraftClaimOfInvoice: with no Coverage the clerk may read, a draft is
// refused (no coverage). Then a prior authorization drafted from the
// catalogue is approved by the insurer's node, and the claim drafted of an
// invoice carries its ChargeItem's code, date, encounter and the
// catalogue's price, the Coverage found and that prior authorization,
// which the rules need; it is approved. The insurer's claims officer's
// work queue lists the three claims to the insurer, the pending one first;
// the hospital clerk's lists none (no claim is to the hospital). No claim
// content reaches any node's files.
func TestDraftClaimOfInvoice(t *testing.T) {
	w := newClaimsWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clerk, patient := w.signers["hosp-a/clerk"], w.patient.ID
	if _, err := w.svc[1].PublishRules(ctx, w.signers["ins/admin"], "gold", []byte(`{"currency":"EUR","copay":1000,"coinsurance":20,
	  "benefits":[{"system":"cpt","code":"70450","maxUnitPrice":50000,"priorAuth":true}]}`)); err != nil {
		t.Fatal(err)
	}
	def, err := fhirjson.Parse([]byte(`{"resourceType":"ChargeItemDefinition","id":"fee-ct","url":"https://hosp-a.example/fees/ct","status":"active",
	  "title":"CT head","code":{"coding":[{"system":"cpt","code":"70450"}]},"propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":400,"currency":"EUR"}}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	w.submit("hosp-a/admin", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "ChargeItemDefinition", ID: "fee-ct", Version: 1, Resource: def.Canonical()})
	preauth := records.ClaimDraft{Patient: patient, Use: claims.UsePreauthorization, Services: []records.DraftService{{Definition: "https://hosp-a.example/fees/ct", Quantity: 1}}}
	if _, err := w.svc[0].DraftClaim(ctx, clerk.ID, preauth); !errors.Is(err, records.ErrClaimRefused) || !strings.Contains(err.Error(), "no coverage") {
		t.Fatalf("a draft without coverage: %v", err)
	}
	const marker = "CLAIMMARKER-draft-ct-51e0"
	for _, it := range []records.PutItem{
		{RecordID: "cov-1", Resource: []byte(`{"resourceType":"Coverage","status":"active","beneficiary":{"reference":"Patient/p1"},
		  "payor":[{"reference":"Organization/ins"}],"class":[{"type":{"coding":[{"code":"plan"}]},"value":"gold"}]}`)},
		{RecordID: "ci-1", Resource: []byte(`{"resourceType":"ChargeItem","status":"billable","code":{"coding":[{"system":"cpt","code":"70450"}],"text":"` + marker + `"},
		  "subject":{"reference":"Patient/p1"},"context":{"reference":"Encounter/enc-1"},"enteredDate":"2026-12-01T10:00:00Z",
		  "definitionCanonical":["https://hosp-a.example/fees/ct"]}`)},
		{RecordID: "inv-1", Resource: []byte(`{"resourceType":"Invoice","status":"issued","subject":{"reference":"Patient/p1"},
		  "lineItem":[{"sequence":1,"chargeItemReference":{"reference":"ChargeItem/ci-1"}}]}`)},
	} {
		it.Patient, it.Category = patient, "billing"
		if _, err := w.svc[0].Put(ctx, clerk, it); err != nil {
			t.Fatal(err)
		}
	}
	adjudicator, stop := context.WithCancel(ctx)
	defer stop()
	go w.svc[1].RunAdjudicator(adjudicator, w.signers["ins/node1"], 20*time.Millisecond)
	submit := func(d records.ClaimDraft) (string, *records.Draft) {
		t.Helper()
		draft, err := w.svc[0].DraftClaim(ctx, clerk.ID, d)
		if err != nil {
			t.Fatal(err)
		}
		id := records.NewRecordID()
		body := strings.Replace(string(draft.Resource), `{`, `{"id":"`+id+`",`, 1)
		if _, err := w.svc[0].SubmitClaim(ctx, clerk, id, []byte(body)); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return id, draft
	}
	pa, _ := submit(preauth)
	w.waitAdjudicated(0, pa)
	claim, draft := submit(records.ClaimDraft{Patient: patient, Use: claims.UseClaim, Invoice: "inv-1"})
	for _, want := range []string{`"servicedDate":"2026-12-01"`, `"Encounter/enc-1"`, `"unitPrice":{"currency":"EUR","value":400.00}`, `"text":"` + marker + `"`, `"Coverage/cov-1"`} {
		if !strings.Contains(string(draft.Resource), want) {
			t.Errorf("the draft has no %s: %s", want, draft.Resource)
		}
	}
	if draft.Coverage != "cov-1" || draft.Insurer != "ins" || len(draft.PreAuthRefs) != 1 || draft.PreAuthRefs[0] != pa {
		t.Fatalf("draft %+v, want coverage cov-1 and prior authorization %s", draft, pa)
	}
	if a := w.waitAdjudicated(0, claim); a.Outcome != claims.OutcomeApproved {
		t.Fatalf("the claim: %+v", a)
	}
	stop()
	pending, _ := submit(records.ClaimDraft{Patient: patient, Use: claims.UsePreauthorization, Services: []records.DraftService{{Definition: "https://hosp-a.example/fees/ct", Quantity: 2}}})

	officer := records.Signer{ID: "ins/officer", Key: newKey(t)}
	w.submit("ins/admin", tx.TypeRegister, &tx.Register{ID: officer.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RoleClaimsOfficer},
		PublicKey: officer.Key.Public().(ed25519.PublicKey)})
	w.waitHeight(1, w.nodes[0].App().Latest().Height())
	queue, err := w.svc[1].InsurerClaims(ctx, officer.ID, "Claim", 10)
	if err != nil || len(queue) != 3 || queue[0].State.ID != pending || queue[0].Result != nil || queue[1].Result == nil || queue[2].Result == nil {
		t.Fatalf("the officer's queue: %d claims, %v", len(queue), err)
	}
	if theirs, err := w.svc[0].InsurerClaims(ctx, clerk.ID, "Claim", 10); err != nil || len(theirs) != 0 {
		t.Fatalf("the hospital clerk's queue: %d claims, %v", len(theirs), err)
	}
	noMarkersOnDisk(t, w, []string{marker})
}
