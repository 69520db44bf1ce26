package records_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// TestOrgKeyRotationStartsNewEpoch: hosp-a's node keeps hosp-a's key in its
// keystore. After hosp-a rotates it (keystore, then ledger), the next
// version of a record goes into a new epoch, wrapped to the new key: a
// keyring holding only the old key reads the old version and not the new
// one; the node, without a restart, reads both (the new key found in its
// keystore, the old one kept).
func TestOrgKeyRotationStartsNewEpoch(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pass := []byte("hosp-a node")
	ks, err := keystore.Open(t.TempDir(), keystore.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	old := w.orgKeys["hosp-a"]
	if err := ks.Import(records.EncryptionKeyName("hosp-a"), ed25519.NewKeyFromSeed(old.Bytes()), pass); err != nil {
		t.Fatal(err)
	}
	kr, _, err := records.OpenNodeKeys(ks, pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := records.New(w.nodes[0], kr, records.Options{Node: "node0"})
	if err != nil {
		t.Fatal(err)
	}
	dr := w.signers["hosp-a/dr-a"]
	put := func(marker string) records.PutResult {
		t.Helper()
		res, err := svc.Put(ctx, dr, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-rotation", Resource: observation(marker)})
		if err != nil {
			t.Fatalf("put %s: %v", marker, err)
		}
		return res
	}
	epoch := func() uint32 {
		t.Helper()
		ep, err := w.nodes[0].App().Latest().Epoch(w.patient.ID, "lab")
		if err != nil {
			t.Fatal(err)
		}
		return ep.Epoch
	}
	put("before-rotation")
	before := epoch()

	nk, _, err := records.RotateEncryptionKey(ks, "hosp-a", pass)
	if err != nil {
		t.Fatal(err)
	}
	w.submit("hosp-a/admin", tx.TypeRotateEncryption, &tx.RotateEncryption{Org: "hosp-a", NewEncryptionKey: nk.Public().Bytes()})
	res := put("after-rotation")
	if after := epoch(); after != before+1 {
		t.Fatalf("epoch %d before the rotation, %d after: want a new epoch", before, after)
	}
	vs, err := w.nodes[0].App().Latest().RecordVersions("rec-rotation")
	if err != nil || len(vs) != 2 || vs[1].Epoch != before+1 {
		t.Fatalf("versions %+v: %v", vs, err)
	}

	read := func(s *records.Service, version uint64) (string, error) {
		r, err := s.Read(ctx, dr.ID, "rec-rotation", version, consent.PurposeTreatment)
		if err != nil {
			return "", err
		}
		return string(r.Resource), nil
	}
	for v, marker := range map[uint64]string{1: "before-rotation", res.Version: "after-rotation"} {
		if got, err := read(svc, v); err != nil || !strings.Contains(got, marker) {
			t.Errorf("the node reads version %d after the rotation: %v", v, err)
		}
	}
	oldOnly := &records.Keyring{}
	oldOnly.Add("hosp-a", old)
	withOld, err := records.New(w.nodes[0], oldOnly, records.Options{Node: "old-key"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := read(withOld, 1); err != nil || !strings.Contains(got, "before-rotation") {
		t.Errorf("the old key reads the old version: %v", err)
	}
	if _, err := read(withOld, res.Version); err == nil {
		t.Error("the old key reads the version written after the rotation")
	}
}
