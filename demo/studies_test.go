package demo

import (
	"testing"

	"github.com/carechain/carechain/tx"
)

// TestStudyProtocolIsValid: the demo study's protocol passes the checks
// the ledger applies at registration (hashes, a primary endpoint, arms,
// CEL criteria that compile) and takes consent (it names data categories).
func TestStudyProtocolIsValid(t *testing.T) {
	r := tx.StudyRegister{ID: StudyID, Title: StudyTitle, EthicsBoard: StudyEthicsBoard, Protocol: StudyProtocol()}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(r.Protocol.DataCategories) == 0 || StudySponsor == StudyEthicsBoard {
		t.Errorf("the demo study takes no consent or is its own ethics board: %+v", r)
	}
}
