package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var testBinding = Binding{RecordID: "obs-7f3a", Version: 3, Patient: "pat-91c2", Category: "laboratory", Epoch: 2}

var fhir = []byte(`{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"},"valueQuantity":{"value":6.1,"unit":"%"}}`)

func newKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEpochKey(t testing.TB) EpochKey {
	t.Helper()
	k, err := NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSeal(t testing.TB, pt []byte, b Binding, ek EpochKey) *Sealed {
	t.Helper()
	s, err := Seal(pt, b, ek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	ek := newEpochKey(t)
	for _, tc := range []struct {
		name string
		pt   []byte
	}{
		{"empty", nil},
		{"one byte", []byte{0}},
		{"fhir", fhir},
		{"largest", bytes.Repeat([]byte{'x'}, MaxPlaintextSize)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustSeal(t, tc.pt, testBinding, ek)
			if len(s.Ciphertext) != len(tc.pt)+28 || len(s.WrappedKey) != WrappedDataKeySize {
				t.Errorf("sizes: ciphertext %d, wrapped key %d", len(s.Ciphertext), len(s.WrappedKey))
			}
			got, err := Open(s, testBinding, ek)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.pt) {
				t.Error("Open returned different plaintext")
			}
		})
	}
}

func TestEpochKeyRoundTrip(t *testing.T) {
	priv := newKey(t)
	ek := newEpochKey(t)
	w, err := WrapEpochKey(priv.Public(), ek, "pat-91c2", "laboratory", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != TaggedWrapSize || !bytes.Equal(WrapKeyID(w), priv.Public().ID()) {
		t.Errorf("wrapped epoch key is %d bytes tagged %x, want %d tagged %x", len(w), WrapKeyID(w), TaggedWrapSize, priv.Public().ID())
	}
	got, err := UnwrapEpochKey(priv, w, "pat-91c2", "laboratory", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got != ek {
		t.Error("unwrapped a different epoch key")
	}
}

// TestUntaggedWrapStillOpens: wraps made before key IDs (the bare HPKE wrap)
// open as before, and carry no ID.
func TestUntaggedWrapStillOpens(t *testing.T) {
	priv := newKey(t)
	ek := newEpochKey(t)
	w, err := priv.Public().Wrap(ek[:], EpochInfo("p", "c", 1))
	if err != nil {
		t.Fatal(err)
	}
	if WrapKeyID(w) != nil {
		t.Errorf("an untagged wrap has key ID %x", WrapKeyID(w))
	}
	if got, err := UnwrapEpochKey(priv, w, "p", "c", 1); err != nil || got != ek {
		t.Fatalf("untagged wrap: %v", err)
	}
}

func TestKeySerializationRoundTrip(t *testing.T) {
	priv := newKey(t)
	priv2, err := ParsePrivateKey(priv.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	pubBytes := priv.Public().Bytes()
	if len(priv.Bytes()) != PrivateKeySize || len(pubBytes) != PublicKeySize {
		t.Fatalf("private key %d bytes, public key %d bytes", len(priv.Bytes()), len(pubBytes))
	}
	if !bytes.Equal(priv2.Public().Bytes(), pubBytes) {
		t.Fatal("parsed private key has a different public key")
	}
	pub, err := ParsePublicKey(pubBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.Bytes(), pubBytes) {
		t.Fatal("public key encoding is not canonical")
	}
	ek := newEpochKey(t)
	w, err := WrapEpochKey(pub, ek, "p", "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapEpochKey(priv2, w, "p", "c", 0); err != nil || got != ek {
		t.Fatalf("parsed key pair does not round trip: %v", err)
	}
	b := priv.Bytes()
	b[0] ^= 1
	if !bytes.Equal(priv2.Bytes(), priv.Bytes()) || priv.Bytes()[0] == b[0] {
		t.Error("Bytes returns the key's own storage")
	}
}

func TestOpenWrongEpochKey(t *testing.T) {
	s := mustSeal(t, fhir, testBinding, newEpochKey(t))
	if _, err := Open(s, testBinding, newEpochKey(t)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Open with another epoch key: got %v, want ErrDecrypt", err)
	}
}

func TestOpenRejectsChangedBinding(t *testing.T) {
	ek := newEpochKey(t)
	s := mustSeal(t, fhir, testBinding, ek)
	for _, tc := range []struct {
		name   string
		change func(*Binding)
	}{
		{"record ID", func(b *Binding) { b.RecordID = "obs-7f3b" }},
		{"version", func(b *Binding) { b.Version++ }},
		{"patient", func(b *Binding) { b.Patient = "pat-91c3" }},
		{"category", func(b *Binding) { b.Category = "imaging" }},
		{"epoch", func(b *Binding) { b.Epoch++ }},
		{"field boundary", func(b *Binding) { b.Patient, b.Category = "pat-91c2l", "aboratory" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBinding
			tc.change(&b)
			if _, err := Open(s, b, ek); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v, want ErrDecrypt", err)
			}
		})
	}
}

// A ciphertext moved to another record, version or patient keeps failing
// even when someone holding the epoch key wraps its data key afresh for the
// new binding: the content itself is bound, not only its wrap.
func TestCiphertextBoundWithoutItsWrap(t *testing.T) {
	ek := newEpochKey(t)
	s := mustSeal(t, fhir, testBinding, ek)
	dk := dataKey(t, s, testBinding, ek)
	for _, tc := range []struct {
		name   string
		change func(*Binding)
	}{
		{"record ID", func(b *Binding) { b.RecordID = "obs-other" }},
		{"version", func(b *Binding) { b.Version-- }},
		{"patient", func(b *Binding) { b.Patient = "pat-other" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBinding
			tc.change(&b)
			moved := &Sealed{Ciphertext: s.Ciphertext, WrappedKey: newAEAD(ek[:]).Seal(nil, nil, dk, b.dataKeyAD())}
			if _, err := Open(moved, b, ek); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v, want ErrDecrypt", err)
			}
		})
	}
}

func dataKey(t *testing.T, s *Sealed, b Binding, ek EpochKey) []byte {
	t.Helper()
	dk, err := newAEAD(ek[:]).Open(nil, nil, s.WrappedKey, b.dataKeyAD())
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func TestUnwrapEpochKeyRejectsChangedContext(t *testing.T) {
	priv := newKey(t)
	w, err := WrapEpochKey(priv.Public(), newEpochKey(t), "pat-91c2", "laboratory", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		patient, category string
		epoch             uint32
	}{
		{"patient", "pat-91c3", "laboratory", 2},
		{"category", "pat-91c2", "imaging", 2},
		{"next epoch", "pat-91c2", "laboratory", 3},
		{"previous epoch", "pat-91c2", "laboratory", 1},
		{"field boundary", "pat-91c2l", "aboratory", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnwrapEpochKey(priv, w, tc.patient, tc.category, tc.epoch); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("got %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestFlippedByteFails(t *testing.T) {
	ek := newEpochKey(t)
	priv := newKey(t)
	s := mustSeal(t, fhir, testBinding, ek)
	w, err := WrapEpochKey(priv.Public(), ek, testBinding.Patient, testBinding.Category, testBinding.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	open := func(s *Sealed) error { _, err := Open(s, testBinding, ek); return err }
	for _, tc := range []struct {
		name string
		buf  []byte
		try  func() error
	}{
		{"ciphertext", s.Ciphertext, func() error { return open(s) }},
		{"wrapped data key", s.WrappedKey, func() error { return open(s) }},
		{"wrapped epoch key", w, func() error {
			_, err := UnwrapEpochKey(priv, w, testBinding.Patient, testBinding.Category, testBinding.Epoch)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.buf {
				tc.buf[i] ^= 0x01
				err := tc.try()
				tc.buf[i] ^= 0x01
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("byte %d flipped: got %v, want ErrDecrypt", i, err)
				}
			}
			if err := tc.try(); err != nil {
				t.Fatalf("unmodified input fails: %v", err)
			}
		})
	}
}

func TestUnwrapWrongIdentity(t *testing.T) {
	alice, mallory := newKey(t), newKey(t)
	w, err := WrapEpochKey(alice.Public(), newEpochKey(t), "p", "c", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnwrapEpochKey(mallory, w, "p", "c", 1); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
}

func TestWrapToThreeReaders(t *testing.T) {
	ek := newEpochKey(t)
	readers := []*PrivateKey{newKey(t), newKey(t), newKey(t)} // patient, author, grantee
	wraps := make([][]byte, len(readers))
	for i, r := range readers {
		w, err := WrapEpochKey(r.Public(), ek, "p", "c", 7)
		if err != nil {
			t.Fatalf("wrap to reader #%d: %v", i, err)
		}
		wraps[i] = w
	}
	for i, r := range readers {
		for j, w := range wraps {
			got, err := UnwrapEpochKey(r, w, "p", "c", 7)
			if i == j && (err != nil || got != ek) {
				t.Errorf("reader #%d cannot unwrap its own wrap: %v", i, err)
			}
			if i != j && !errors.Is(err, ErrDecrypt) {
				t.Errorf("reader #%d unwrapping reader #%d's wrap: got %v, want ErrDecrypt", i, j, err)
			}
		}
	}
}

func TestRevokeStopsNewReads(t *testing.T) {
	patient, grantee := newKey(t), newKey(t)
	old := newEpochKey(t)
	next := newEpochKey(t) // epoch 2, wrapped only to the patient
	wNext, err := WrapEpochKey(patient.Public(), next, "p", "c", 2)
	if err != nil {
		t.Fatal(err)
	}
	b := Binding{RecordID: "r", Version: 1, Patient: "p", Category: "c", Epoch: 2}
	s := mustSeal(t, fhir, b, next)
	if _, err := UnwrapEpochKey(grantee, wNext, "p", "c", 2); !errors.Is(err, ErrDecrypt) {
		t.Errorf("revoked grantee unwrapped the new epoch key: %v", err)
	}
	if _, err := Open(s, b, old); !errors.Is(err, ErrDecrypt) {
		t.Errorf("old epoch key opened a new version: %v", err)
	}
	if got, err := Open(s, b, next); err != nil || !bytes.Equal(got, fhir) {
		t.Errorf("remaining reader cannot open: %v", err)
	}
}

func TestCiphertextHidesPlaintext(t *testing.T) {
	ek := newEpochKey(t)
	pt := bytes.Repeat(fhir, 8)
	s1, s2 := mustSeal(t, pt, testBinding, ek), mustSeal(t, pt, testBinding, ek)
	for _, s := range []*Sealed{s1, s2} {
		all := append(append([]byte{}, s.Ciphertext...), s.WrappedKey...)
		for _, secret := range [][]byte{pt, fhir[:16], []byte("HbA1c"), ek[:]} {
			if bytes.Contains(all, secret) {
				t.Errorf("sealed output contains %q", secret)
			}
		}
	}
	if bytes.Equal(s1.Ciphertext, s2.Ciphertext) || bytes.Equal(s1.WrappedKey, s2.WrappedKey) {
		t.Error("sealing twice gave the same output: data keys or nonces are reused")
	}
	dk1, dk2 := dataKey(t, s1, testBinding, ek), dataKey(t, s2, testBinding, ek)
	if bytes.Equal(dk1, dk2) || bytes.Equal(dk1, make([]byte, KeySize)) {
		t.Error("data keys are not fresh random keys")
	}
	if ek2 := newEpochKey(t); ek2 == ek || ek2 == (EpochKey{}) {
		t.Error("epoch keys are not fresh random keys")
	}
}

func TestParseKeyRejectsBadInput(t *testing.T) {
	good := newKey(t).Public().Bytes()
	withPoint := func(u byte) []byte {
		b := bytes.Clone(good)
		clear(b[PublicKeySize-32:])
		b[PublicKeySize-32] = u
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"truncated", good[:len(good)-1]},
		{"extended", append(bytes.Clone(good), 0)},
		{"private key", newKey(t).Bytes()},
		{"garbage", bytes.Repeat([]byte{0xff}, PublicKeySize)},
		{"X25519 zero point", withPoint(0)},
		{"X25519 order-4 point", withPoint(1)},
		{"X25519 high bit set", func() []byte { b := bytes.Clone(good); b[PublicKeySize-1] |= 0x80; return b }()},
		{"X25519 u = p + 9", func() []byte {
			b := bytes.Clone(good)
			copy(b[PublicKeySize-32:], bytes.Repeat([]byte{0xff}, 32))
			b[PublicKeySize-32], b[PublicKeySize-1] = 0xed+9, 0x7f
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParsePublicKey(tc.b); err == nil || !strings.HasPrefix(err.Error(), "seal: ") {
				t.Fatalf("ParsePublicKey: got %v, want a seal error", err)
			}
		})
	}
	for _, b := range [][]byte{nil, make([]byte, PrivateKeySize-1), make([]byte, PrivateKeySize+1), good} {
		if _, err := ParsePrivateKey(b); err == nil {
			t.Errorf("ParsePrivateKey accepted %d bytes", len(b))
		}
	}
}

func TestRejectsMalformedInput(t *testing.T) {
	ek := newEpochKey(t)
	priv := newKey(t)
	s := mustSeal(t, fhir, testBinding, ek)
	long := strings.Repeat("x", MaxIDSize+1)
	var fake fakeIdentity
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"plaintext too long", func() error { _, err := Seal(make([]byte, MaxPlaintextSize+1), testBinding, ek); return err }},
		{"empty record ID", func() error { _, err := Seal(fhir, Binding{Patient: "p", Category: "c"}, ek); return err }},
		{"long patient", func() error {
			_, err := Seal(fhir, Binding{RecordID: "r", Patient: long, Category: "c"}, ek)
			return err
		}},
		{"empty category at Open", func() error { _, err := Open(s, Binding{RecordID: "r", Patient: "p"}, ek); return err }},
		{"nil Sealed", func() error { _, err := Open(nil, testBinding, ek); return err }},
		{"short ciphertext", func() error { _, err := Open(&Sealed{make([]byte, 27), s.WrappedKey}, testBinding, ek); return err }},
		{"huge ciphertext", func() error {
			_, err := Open(&Sealed{make([]byte, MaxCiphertextSize+1), s.WrappedKey}, testBinding, ek)
			return err
		}},
		{"short wrapped data key", func() error { _, err := Open(&Sealed{s.Ciphertext, s.WrappedKey[1:]}, testBinding, ek); return err }},
		{"wrap short key", func() error { _, err := priv.Public().Wrap(make([]byte, 16), nil); return err }},
		{"wrap to nil", func() error { _, err := WrapEpochKey(nil, ek, "p", "c", 0); return err }},
		{"wrap empty patient", func() error { _, err := WrapEpochKey(priv.Public(), ek, "", "c", 0); return err }},
		{"unwrap short", func() error {
			_, err := UnwrapEpochKey(priv, make([]byte, WrappedEpochKeySize-1), "p", "c", 0)
			return err
		}},
		{"unwrap huge", func() error { _, err := UnwrapEpochKey(priv, make([]byte, 1<<20), "p", "c", 0); return err }},
		{"unwrap with nil", func() error {
			_, err := UnwrapEpochKey(nil, make([]byte, WrappedEpochKeySize), "p", "c", 0)
			return err
		}},
		{"unwrap huge, other identity", func() error {
			_, err := UnwrapEpochKey(&fake, make([]byte, maxWrappedEpochKeySize+1), "p", "c", 0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.called = false
			err := tc.err()
			if err == nil || errors.Is(err, ErrDecrypt) || fake.called {
				t.Fatalf("got %v (identity called: %v), want a malformed-input error", err, fake.called)
			}
		})
	}
}

func TestUnwrapEpochKeyRejectsWrongKeySize(t *testing.T) {
	for _, n := range []int{0, KeySize - 1, KeySize + 1} {
		id := &fakeIdentity{key: make([]byte, n)}
		if _, err := UnwrapEpochKey(id, []byte{1}, "p", "c", 0); !errors.Is(err, ErrDecrypt) {
			t.Errorf("identity returned %d bytes: got %v, want ErrDecrypt", n, err)
		}
	}
}

// fakeIdentity stands for an Identity of another type, such as a keystore.
type fakeIdentity struct {
	key    []byte
	called bool
}

func (f *fakeIdentity) Unwrap([]byte, []byte) ([]byte, error) {
	f.called = true
	return f.key, nil
}

func TestEpochInfoIsUnambiguous(t *testing.T) {
	infos := [][]byte{
		EpochInfo("ab", "c", 1),
		EpochInfo("a", "bc", 1),
		EpochInfo("a", "bc", 2),
		EpochInfo("a", "bc", 1<<24),
	}
	for i := range infos {
		if !bytes.HasPrefix(infos[i], []byte("carechain/epoch-key/v1")) {
			t.Errorf("info #%d lacks the context string", i)
		}
		for j := range i {
			if bytes.Equal(infos[i], infos[j]) {
				t.Errorf("infos #%d and #%d are equal", i, j)
			}
		}
	}
}

func BenchmarkSeal1KiB(b *testing.B) {
	ek, pt := newEpochKey(b), make([]byte, 1024)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Seal(pt, testBinding, ek); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	ek, pt := newEpochKey(b), make([]byte, 1024)
	s := mustSeal(b, pt, testBinding, ek)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := Open(s, testBinding, ek); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapEpochKey(b *testing.B) {
	pub, ek := newKey(b).Public(), newEpochKey(b)
	for b.Loop() {
		if _, err := WrapEpochKey(pub, ek, "p", "c", 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapEpochKey(b *testing.B) {
	priv, ek := newKey(b), newEpochKey(b)
	w, err := WrapEpochKey(priv.Public(), ek, "p", "c", 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := UnwrapEpochKey(priv, w, "p", "c", 1); err != nil {
			b.Fatal(err)
		}
	}
}
