package nodeapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/proof"
)

// TestValidatorHistoryAndTrustedHeight: the history of a chain whose
// validators never changed is its first set; a proof for a verifier who
// trusts the set of a later height carries no transitions; a trusted height
// that is not a block height is refused.
func TestValidatorHistoryAndTrustedHeight(t *testing.T) {
	w := newProofWorld(t)
	status, body := w.get(t, "/v1/validators/history", "")
	var epochs []node.ValidatorEpoch
	if status != http.StatusOK || json.Unmarshal(body, &epochs) != nil {
		t.Fatalf("history: HTTP %d %s", status, body)
	}
	if len(epochs) != 1 || epochs[0].Height != 1 || len(epochs[0].Validators) != 1 || len(epochs[0].Changes) != 0 {
		t.Fatalf("history of an unchanged set: %s", body)
	}
	identity := fmt.Sprintf("/v1/proofs/identity/hosp-b/dr-x@%d", w.dxHeight)
	for _, q := range []string{"?trusted_height=0", "?trusted_height=-1", "?trusted_height=x"} {
		if status, body := w.get(t, identity+q, ""); status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s, want 400", q, status, body)
		}
	}
	status, body = w.get(t, identity+fmt.Sprintf("?trusted_height=%d", w.dxHeight), "")
	var b proof.Bundle
	if status != http.StatusOK || proof.Decode(body, &b) != nil || len(b.At.Transitions) != 0 {
		t.Fatalf("proof trusting height %d: HTTP %d %.200s", w.dxHeight, status, body)
	}
}
