package records

import (
	"bytes"
	"fmt"
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

// TestOpenerUnwrapsEachAuditKeyOnce: one opener opens every event of a
// patient's log, unwrapping each audit key once, and still refuses an
// event under another ID than the one it was sealed for.
func TestOpenerUnwrapsEachAuditKeyOnce(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := newAuditKeys(func() time.Time { return now })
	key := mustKey(t)
	v := patientKeys{"patient/p1": key.Public().Bytes()}
	o := &sealedOpener{key: key}
	var sealed [][]byte
	for i := range 4 {
		if i == 2 {
			now = now.Add(auditKeyAge) // a second audit key
		}
		k, wrapped, err := a.get(v, "patient/p1")
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("ev-%d", i)
		b, err := sealUnder(k, wrapped, "patient/p1", auditContext, id, []byte("event "+id))
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, b)
		if plain, err := o.open("patient/p1", auditContext, id, b); err != nil || string(plain) != "event "+id {
			t.Fatalf("event %s opens to %q, %v", id, plain, err)
		}
	}
	if len(o.keys) != 2 {
		t.Errorf("%d audit keys unwrapped for 4 events under 2, want 2", len(o.keys))
	}
	if _, err := o.open("patient/p1", auditContext, "ev-1", sealed[0]); err == nil {
		t.Error("an event opened under another event's ID with an unwrapped audit key")
	}
}

// BenchmarkOpenAuditLog opens 100 events sealed under one audit key: each
// unwrapped on its own (OpenSealed) against one opener for the log.
func BenchmarkOpenAuditLog(b *testing.B) {
	key, err := seal.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	a := newAuditKeys(time.Now)
	v := patientKeys{"patient/p1": key.Public().Bytes()}
	sealed := make([][]byte, 100)
	for i := range sealed {
		k, wrapped, err := a.get(v, "patient/p1")
		if err != nil {
			b.Fatal(err)
		}
		if sealed[i], err = sealUnder(k, wrapped, "patient/p1", auditContext, fmt.Sprint(i), []byte("event")); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("each-unwrapped", func(b *testing.B) {
		for b.Loop() {
			for i, s := range sealed {
				if _, err := OpenSealed(key, "patient/p1", auditContext, fmt.Sprint(i), s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("one-opener", func(b *testing.B) {
		for b.Loop() {
			o := &sealedOpener{key: key}
			for i, s := range sealed {
				if _, err := o.open("patient/p1", auditContext, fmt.Sprint(i), s); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
