package ledger

import (
	"testing"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

// TestAccessRequestRules: a practitioner asks a patient once at a time;
// only the patient answers, once; a granted answer names a grant of the
// patient's; bad requests change nothing.
func TestAccessRequestRules(t *testing.T) {
	h, grantID := consentWorld(t)
	ask := func(cats ...string) *tx.AccessRequest {
		return &tx.AccessRequest{Patient: "patient/p", Categories: cats, Purposes: []consent.Purpose{consent.PurposeTreatment}, SealedReason: []byte("sealed")}
	}
	for _, c := range []struct {
		signer string
		body   *tx.AccessRequest
		want   Code
	}{
		{"patient/p", ask("lab"), CodeUnauthorized}, // a patient does not ask
		{"hosp-b/dr-b", &tx.AccessRequest{Patient: "hosp-a/dr-a", Categories: []string{"lab"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}, CodeInvalid}, // not a patient
		{"hosp-b/dr-b", ask("no-such-category"), CodeInvalid},
		{"hosp-b/dr-b", &tx.AccessRequest{Patient: "patient/p", Categories: []string{"lab"}, Purposes: []consent.Purpose{consent.PurposeEmergency}}, CodeInvalid},
		{"hosp-b/dr-b", ask("lab", "lab"), CodeInvalid},
		{"hosp-b/dr-b", ask("lab", "vital-signs"), CodeOK},
		{"hosp-b/dr-b", ask("lab"), CodeConflict}, // one open request per practitioner and patient
	} {
		if got := h.block(h.sign(c.signer, tx.TypeAccessRequest, c.body)); got[0] != c.want {
			t.Fatalf("%s asks %+v: %v, want %v", c.signer, c.body, got[0], c.want)
		}
	}
	reqs, err := h.at(0).AccessRequests("patient/p")
	if err != nil || len(reqs) != 1 || reqs[0].Requester != "hosp-b/dr-b" || reqs[0].Status != RequestOpen || string(reqs[0].SealedReason) != "sealed" {
		t.Fatalf("requests %+v, %v", reqs, err)
	}
	id := reqs[0].ID
	for _, c := range []struct {
		signer string
		body   *tx.AccessAnswer
		want   Code
	}{
		{"hosp-b/dr-b", &tx.AccessAnswer{Patient: "patient/p", RequestID: id, Answer: tx.AnswerDeclined}, CodeUnauthorized},
		{"patient/p", &tx.AccessAnswer{Patient: "patient/p", RequestID: "q-000000000000", Answer: tx.AnswerDeclined}, CodeInvalid},
		{"patient/p", &tx.AccessAnswer{Patient: "patient/p", RequestID: id, Answer: tx.AnswerGranted, GrantID: "g-nosuchgrant"}, CodeInvalid},
		{"patient/p", &tx.AccessAnswer{Patient: "patient/p", RequestID: id, Answer: tx.AnswerGranted}, CodeInvalid},
		{"patient/p", &tx.AccessAnswer{Patient: "patient/p", RequestID: id, Answer: tx.AnswerGranted, GrantID: grantID}, CodeOK},
		{"patient/p", &tx.AccessAnswer{Patient: "patient/p", RequestID: id, Answer: tx.AnswerDeclined}, CodeConflict}, // answered once
	} {
		if got := h.block(h.sign(c.signer, tx.TypeAccessAnswer, c.body)); got[0] != c.want {
			t.Fatalf("%s answers %+v: %v, want %v", c.signer, c.body, got[0], c.want)
		}
	}
	reqs, _ = h.at(0).AccessRequests("patient/p")
	if reqs[0].Status != tx.AnswerGranted || reqs[0].GrantID != grantID || reqs[0].AnsweredAt == 0 {
		t.Fatalf("answered request %+v", reqs[0])
	}
	if got := h.block(h.sign("hosp-b/dr-b", tx.TypeAccessRequest, ask("lab"))); got[0] != CodeOK {
		t.Fatalf("a new request after the answer: %v", got[0])
	}
}
