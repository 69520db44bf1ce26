package records

import (
	"bytes"
	"testing"
	"time"

	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// patientKeys is the encryption keys of patients, as a ledger view has them.
type patientKeys map[string][]byte

func (p patientKeys) EncryptionKey(reader string) ([]byte, error) { return p[reader], nil }

func mustKey(t *testing.T) *seal.PrivateKey {
	t.Helper()
	k, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sealedWith seals one event of patient with a and returns its sealed form,
// which must open with key to plain.
func sealedWith(t *testing.T, a *auditKeys, v encryptionKeys, key *seal.PrivateKey, patient, id string) sealedEvent {
	t.Helper()
	k, wrapped, err := a.get(v, patient)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sealUnder(k, wrapped, patient, auditContext, id, []byte("event "+id))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := OpenSealed(key, patient, auditContext, id, b); err != nil || string(plain) != "event "+id {
		t.Fatalf("event %s opens to %q, %v", id, plain, err)
	}
	var se sealedEvent
	if err := tx.Unmarshal(b, &se); err != nil {
		t.Fatal(err)
	}
	return se
}

// TestAuditKeysWrapOncePerPatientAndKey: a patient's events share one wrap
// of the audit key until the patient's encryption key changes or the key
// grows old; another patient's events have their own; every event opens
// with its patient's key alone, under its own ID only.
func TestAuditKeysWrapOncePerPatientAndKey(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAuditKeys(func() time.Time { return now })
	k1, k2, other := mustKey(t), mustKey(t), mustKey(t)
	v := patientKeys{"patient/p1": k1.Public().Bytes(), "patient/p2": other.Public().Bytes()}

	first := sealedWith(t, a, v, k1, "patient/p1", "ev-1")
	second := sealedWith(t, a, v, k1, "patient/p1", "ev-2")
	if !bytes.Equal(first.Wrapped, second.Wrapped) {
		t.Error("two events of one patient wrapped the audit key twice")
	}
	if bytes.Equal(first.WrappedKey, second.WrappedKey) || bytes.Equal(first.Ciphertext, second.Ciphertext) {
		t.Error("two events share a data key")
	}
	if p2 := sealedWith(t, a, v, other, "patient/p2", "ev-3"); bytes.Equal(p2.Wrapped, first.Wrapped) {
		t.Error("two patients share an audit key")
	}
	b, _ := tx.Marshal(second)
	if _, err := OpenSealed(k1, "patient/p1", auditContext, "ev-1", b); err == nil {
		t.Error("an event opened under another event's ID")
	}
	if _, err := OpenSealed(other, "patient/p1", auditContext, "ev-2", b); err == nil {
		t.Error("an event opened with another patient's key")
	}

	v["patient/p1"] = k2.Public().Bytes() // the patient rotated their key
	rotated := sealedWith(t, a, v, k2, "patient/p1", "ev-4")
	if bytes.Equal(rotated.Wrapped, first.Wrapped) {
		t.Error("an event after the patient's key rotation under the audit key wrapped to the old key")
	}
	now = now.Add(auditKeyAge)
	if aged := sealedWith(t, a, v, k2, "patient/p1", "ev-5"); bytes.Equal(aged.Wrapped, rotated.Wrapped) {
		t.Errorf("an audit key still used after %v", auditKeyAge)
	}

	delete(v, "patient/p2")
	if _, _, err := a.get(v, "patient/p2"); err == nil {
		t.Error("an event sealed for a patient without an encryption key")
	}
}
