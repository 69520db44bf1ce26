package ledger

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

func binaryPut(t *testing.T, id string, newEpoch bool, content string) *tx.RecordPut {
	var readers []string
	if newEpoch {
		readers = []string{"hosp-a", "patient/p"}
	}
	p := put(t, id, 1, "patient/p", "lab", 1, readers)
	sum := sha256.Sum256([]byte(content))
	p.ResourceType, p.Blob = "Binary", &carechain.BlobRef{Hash: sum[:], Size: int64(len(content))}
	return p
}

// TestBlobsNamedOnTheLedger: a Binary version names its blob in the
// version and the blob index; a second version naming the same blob is a
// conflict; only a Binary names one; a version without one writes no index.
func TestBlobsNamedOnTheLedger(t *testing.T) {
	h := recordWorld(t)
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, binaryPut(t, "b1", true, "sealed one"))); c[0] != CodeOK {
		t.Fatalf("binary: %v", c)
	}
	sum := sha256.Sum256([]byte("sealed one"))
	v := h.at(0)
	rv, err := v.RecordVersion("b1", 1)
	if err != nil || rv.Blob == nil || !bytes.Equal(rv.Blob.Hash, sum[:]) || rv.Blob.Size != 10 {
		t.Fatalf("version: %+v %v", rv, err)
	}
	if e, err := v.Blob(sum[:]); err != nil || e.RecordID != "b1" || e.Version != 1 || e.Patient != "patient/p" {
		t.Fatalf("blob entry: %+v %v", e, err)
	}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, binaryPut(t, "b2", false, "sealed one")), StageFinalize, CodeConflict, "named by another")
	if all, err := h.at(0).Blobs(); err != nil || len(all) != 1 {
		t.Fatalf("blobs: %v %v", all, err)
	}
	obs := binaryPut(t, "o1", false, "x")
	obs.ResourceType = "Observation"
	if err := obs.Validate(); err == nil {
		t.Error("an Observation naming a blob passed validation")
	}
	if c := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "o2", 1, "patient/p", "lab", 1, nil))); c[0] != CodeOK {
		t.Fatalf("observation: %v", c)
	}
	if rv, _ := h.at(0).RecordVersion("o2", 1); rv.Blob != nil {
		t.Error("a version without a blob names one")
	}
}
