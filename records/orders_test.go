package records_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// TestOrderAcrossNodes: hospital A's physician, on hospital A's node,
// orders a test of lab C, whose keys only the other node holds. On that
// node the lab reads the order and the diagnosis it names, and writes its
// result based on the order; hospital A reads the result on its own node.
// Once hospital A completes the order, the lab's node reads neither the
// order nor the diagnosis, and its further result is refused as a conflict.
func TestOrderAcrossNodes(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dr, lab := w.signers["hosp-a/dr-a"], w.signers["lab-c/dr-e"]
	put := func(node int, s records.Signer, id, category string, resource []byte) int64 {
		t.Helper()
		out, err := w.svc[node].Put(ctx, s, records.PutItem{Patient: w.patient.ID, Category: category, RecordID: id, Resource: resource})
		if err != nil {
			t.Fatalf("%s writes %s: %v", s.ID, id, err)
		}
		return out.Height
	}
	put(0, dr, "cond-1", "general", condition("ORDER-REASON-MARKER"))
	order := func(status string) []byte {
		return []byte(`{"resourceType":"ServiceRequest","status":"` + status + `","intent":"order","subject":{"reference":"Patient/p1"},
		  "category":[{"coding":[{"system":"http://snomed.info/sct","code":"108252007"}]}],
		  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4","display":"Hemoglobin A1c"}]},
		  "performer":[{"reference":"Organization/lab-c"}],"reasonReference":[{"reference":"Condition/cond-1"}]}`)
	}
	w.waitHeight(1, put(0, dr, "sr-1", "lab", order("active")))
	for id, marker := range map[string]string{"sr-1": "4548-4", "cond-1": "ORDER-REASON-MARKER"} {
		rec, err := w.svc[1].Read(ctx, lab.ID, id, 0, consent.PurposeTreatment)
		if err != nil || !strings.Contains(string(rec.Resource), marker) {
			t.Fatalf("the lab's node reads %s of the open order: %v", id, err)
		}
	}
	result := []byte(`{"resourceType":"Observation","status":"final","basedOn":[{"reference":"ServiceRequest/sr-1"}],
	  "code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}],"text":"RESULT-MARKER"},"subject":{"reference":"Patient/p1"},
	  "valueQuantity":{"value":6.1,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`)
	w.waitHeight(0, put(1, lab, "res-1", "lab", result))
	if rec, err := w.svc[0].Read(ctx, dr.ID, "res-1", 0, consent.PurposeTreatment); err != nil || !strings.Contains(string(rec.Resource), "RESULT-MARKER") {
		t.Fatalf("hospital A reads the lab's result on its node: %v", err)
	}

	w.waitHeight(1, put(0, dr, "sr-1", "lab", order("completed")))
	for _, id := range []string{"sr-1", "cond-1"} {
		if _, err := w.svc[1].Read(ctx, lab.ID, id, 0, consent.PurposeTreatment); err == nil {
			t.Errorf("the lab's node reads %s of the completed order", id)
		}
	}
	_, err := w.svc[1].Put(ctx, lab, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "res-2", Resource: result})
	if err == nil || !strings.Contains(err.Error(), "is closed") {
		t.Errorf("a result for the completed order: %v", err)
	}
}
