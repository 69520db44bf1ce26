package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// tagged wraps a fresh epoch key to each reader's key, as records does: the
// wraps carry the key's ID.
func tagged(t *testing.T, p *tx.RecordPut, keys map[string]*seal.PrivateKey) *tx.RecordPut {
	t.Helper()
	ek, err := seal.NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range p.NewEpoch.Wraps {
		if p.NewEpoch.Wraps[i].Wrapped, err = seal.WrapEpochKey(keys[w.Reader].Public(), ek, p.Patient, p.Category, p.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// rotateOrg is hosp-a's admin replacing hosp-a's encryption key with the key of seed.
func (h *harness) rotateOrg(seed byte) []byte {
	return h.sign("hosp-a/admin", tx.TypeRotateEncryption, &tx.RotateEncryption{Org: "hosp-a", NewEncryptionKey: encKey(h.t, seed).Public().Bytes()})
}

func TestRotateEncryptionRejections(t *testing.T) {
	cases := []struct {
		name   string
		signer string
		body   *tx.RotateEncryption
		want   Code
		reason string
	}{
		{"another organization's admin", "hosp-b/admin", &tx.RotateEncryption{Org: "hosp-a", NewEncryptionKey: encKey(t, 40).Public().Bytes()}, CodeUnauthorized, "needs an admin of"},
		{"a physician", "hosp-a/dr-a", &tx.RotateEncryption{Org: "hosp-a", NewEncryptionKey: encKey(t, 40).Public().Bytes()}, CodeUnauthorized, "needs an admin of"},
		{"staff's own key", "hosp-a/dr-a", &tx.RotateEncryption{NewEncryptionKey: encKey(t, 40).Public().Bytes()}, CodeUnauthorized, "no encryption key of its own"},
		{"the same key", "hosp-a/admin", &tx.RotateEncryption{Org: "hosp-a", NewEncryptionKey: encKey(t, 1).Public().Bytes()}, CodeInvalid, "already"},
		{"not a key", "patient/p", &tx.RotateEncryption{NewEncryptionKey: []byte("not a key")}, CodeInvalid, "encryption key"},
		{"no key", "patient/p", &tx.RotateEncryption{}, CodeInvalid, "required"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := recordWorld(t)
				h.judge(h.sign(c.signer, tx.TypeRotateEncryption, c.body), stage, c.want, c.reason)
			})
		}
	}
}

// TestEncryptionKeyRotationStartsNewEpochs: once hosp-a replaced its
// encryption key, no version goes into an epoch wrapped to the old key, nor
// does a new epoch or a grant carry a wrap to it; a new epoch wrapped to the
// new key takes versions again. The same holds for a patient's own key.
func TestEncryptionKeyRotationStartsNewEpochs(t *testing.T) {
	h := recordWorld(t)
	keys := map[string]*seal.PrivateKey{"hosp-a": encKey(t, 1), "hosp-b": encKey(t, 2), "patient/p": encKey(t, 12)}
	both := []string{"hosp-a", "patient/p"}
	ok := func(what string, raw []byte) {
		t.Helper()
		if code, log := h.blockResp(raw); code != CodeOK {
			t.Fatalf("%s: %v %s", what, code, log)
		}
	}
	ok("v1, epoch 1", h.sign("hosp-a/dr-a", tx.TypeRecordPut, tagged(t, put(t, "r1", 1, "patient/p", "lab", 1, both), keys)))
	ok("untagged epoch of another category", h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r2", 1, "patient/p", "vital-signs", 1, both)))
	ok("v2 into epoch 1", h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 1, nil)))

	ok("rotation", h.rotateOrg(41))
	if o, _ := h.at(0).Organization("hosp-a"); !bytes.Equal(o.EncryptionKey, encKey(t, 41).Public().Bytes()) {
		t.Fatalf("hosp-a's key after the rotation: %x…", o.EncryptionKey[:8])
	}
	if stale, err := h.at(0).EpochStale("patient/p", "lab"); err != nil || !stale {
		t.Fatalf("EpochStale after the rotation = %v, %v", stale, err)
	}
	for _, stage := range []Stage{StageCheck, StageFinalize} {
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 3, "patient/p", "lab", 1, nil)), stage, CodeStaleEpoch, "hosp-a has replaced")
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r2", 2, "patient/p", "vital-signs", 1, nil)), stage, CodeStaleEpoch, "hosp-a has replaced")
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, tagged(t, put(t, "r1", 3, "patient/p", "lab", 2, both), keys)), stage, CodeStaleEpoch, "hosp-a has replaced")
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 3, "patient/p", "lab", 2, both)), stage, CodeStaleEpoch, "hosp-a has replaced")
	}
	grant := func(epoch uint32, to *seal.PrivateKey) []byte {
		ek, _ := seal.NewEpochKey()
		w, _ := seal.WrapEpochKey(to.Public(), ek, "patient/p", "lab", epoch)
		return h.sign("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{
			Grant: consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-b"}, Categories: []string{"lab"},
				Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}},
			Wraps: []tx.CategoryWrap{{Category: "lab", Epoch: epoch, Wrapped: w}}})
	}
	h.judge(grant(1, encKey(t, 42)), StageFinalize, CodeStaleEpoch, "hosp-b has replaced")

	keys["hosp-a"] = encKey(t, 41)
	ok("v3 starts epoch 2", h.sign("hosp-a/dr-a", tx.TypeRecordPut, tagged(t, put(t, "r1", 3, "patient/p", "lab", 2, both), keys)))
	ok("v4 into epoch 2", h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 4, "patient/p", "lab", 2, nil)))
	ok("a grant of epoch 2 to hosp-b's current key", grant(2, keys["hosp-b"]))

	// The patient replaces their own key: epoch 2 is stale in turn.
	ok("patient's rotation", h.sign("patient/p", tx.TypeRotateEncryption, &tx.RotateEncryption{NewEncryptionKey: encKey(t, 43).Public().Bytes()}))
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 5, "patient/p", "lab", 2, nil)), StageFinalize, CodeStaleEpoch, "patient/p has replaced")
	keys["patient/p"] = encKey(t, 43)
	ok("v5 starts epoch 3", h.sign("hosp-a/dr-a", tx.TypeRecordPut, tagged(t, put(t, "r1", 5, "patient/p", "lab", 3, []string{"hosp-a", "hosp-b", "patient/p"}), keys)))
	vs, err := h.at(0).RecordVersions("r1")
	if err != nil || len(vs) != 5 || vs[1].Epoch != 1 || vs[2].Epoch != 2 || vs[4].Epoch != 3 {
		t.Fatalf("versions %+v %v", vs, err)
	}
}

// TestRotateEncryptionIsLogged: the change of an organization's key is an
// identity entry of the log, like a principal's.
func TestRotateEncryptionIsLogged(t *testing.T) {
	h := recordWorld(t)
	h.block(h.rotateOrg(41))
	if _, leaf, _, err := h.at(0).LogEntry("identity", identityLogKey("hosp-a", h.height)); err != nil || !strings.HasPrefix(leaf.StateKey, "org/") {
		t.Fatalf("log entry: %+v %v", leaf, err)
	}
}
