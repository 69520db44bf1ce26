package records

import (
	"crypto/ed25519"
	"testing"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/seal"
)

var (
	nodePass    = []byte("node passphrase")
	patientPass = []byte("the patient's own")
)

func testKeystore(t *testing.T) *keystore.Store {
	t.Helper()
	ks, err := keystore.Open(t.TempDir(), keystore.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func mustCreate(t *testing.T, ks *keystore.Store, name string, pass []byte) {
	t.Helper()
	if _, err := ks.Create(name, pass); err != nil {
		t.Fatal(err)
	}
}

func mustEncryptionKey(t *testing.T, ks *keystore.Store, reader string, pass []byte) *seal.PrivateKey {
	t.Helper()
	k, err := CreateEncryptionKey(ks, reader, pass)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestNodeKeysOpenWhatTheNodePassphraseOpens: keys under other passphrases
// are skipped, not an error; patients' keys are left locked even when the
// node's passphrase would open them.
func TestNodeKeysOpenWhatTheNodePassphraseOpens(t *testing.T) {
	ks := testKeystore(t)
	mustCreate(t, ks, "hosp-a.dr-a", nodePass)
	mustCreate(t, ks, "hosp-a.dr-x", []byte("someone else's"))
	mustCreate(t, ks, "patient.p1", nodePass)
	mustCreate(t, ks, "patient.p2", patientPass)
	mustEncryptionKey(t, ks, "hosp-a", nodePass)
	mustEncryptionKey(t, ks, "hosp-b", []byte("hosp-b's node"))
	mustEncryptionKey(t, ks, "patient/p1", nodePass)
	mustEncryptionKey(t, ks, "patient/p2", patientPass)

	kr, cust, err := OpenNodeKeys(ks, nodePass, nil)
	if err != nil {
		t.Fatalf("keys of several passphrases: %v", err)
	}
	for id, want := range map[string]bool{"hosp-a/dr-a": true, "hosp-a/dr-x": false, "patient/p1": false, "patient/p2": false} {
		if _, ok := cust.Signer(id); ok != want {
			t.Errorf("signing key of %s held: %v, want %v", id, ok, want)
		}
	}
	for reader, want := range map[string]bool{"hosp-a": true, "hosp-b": false, "patient/p1": false, "patient/p2": false} {
		if _, ok := kr.identity(reader); ok != want {
			t.Errorf("encryption key of %s held: %v, want %v", reader, ok, want)
		}
	}
	// The patient signs in with their own passphrase.
	if n, err := kr.Unlock(ks, "patient/p2", patientPass); err != nil || n != 1 {
		t.Fatalf("patient's sign-in unlocked %d keys: %v", n, err)
	}
	if _, ok := kr.identity("patient/p2"); !ok {
		t.Error("the signed-in patient's key is not held")
	}
}

// TestNodeKeysFindKeysAddedLater: keys added to the keystore after the
// start are found when first asked for; a key that did not open is tried
// again only once its file changed.
func TestNodeKeysFindKeysAddedLater(t *testing.T) {
	ks := testKeystore(t)
	mustEncryptionKey(t, ks, "hosp-a", nodePass)
	kr, cust, err := OpenNodeKeys(ks, nodePass, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ks, "hosp-a.dr-new", nodePass)
	if s, ok := cust.Signer("hosp-a/dr-new"); !ok || s.Key == nil {
		t.Error("a staff key made after the start is not found")
	}
	org := mustEncryptionKey(t, ks, "hosp-c", nodePass)
	id, ok := kr.identity("hosp-c")
	if !ok {
		t.Fatal("an organization key made after the start is not found")
	}
	ek, _ := seal.NewEpochKey()
	w, _ := seal.WrapEpochKey(org.Public(), ek, "patient/p", "lab", 1)
	if got, err := seal.UnwrapEpochKey(id, w, "patient/p", "lab", 1); err != nil || got != ek {
		t.Fatalf("the found key does not open its wrap: %v", err)
	}
	mustCreate(t, ks, "patient.p9", nodePass)
	if _, ok := cust.Signer("patient/p9"); ok {
		t.Error("a patient's key was opened with the node's passphrase")
	}

	mustCreate(t, ks, "hosp-a.dr-late", []byte("the wrong one"))
	if _, ok := cust.Signer("hosp-a/dr-late"); ok {
		t.Fatal("a key under another passphrase opened")
	}
	_, k, _ := ed25519.GenerateKey(nil)
	if err := ks.Replace("hosp-a.dr-late", k, nodePass); err != nil {
		t.Fatal(err)
	}
	if s, ok := cust.Signer("hosp-a/dr-late"); !ok || !s.Key.Equal(k) {
		t.Error("a key file replaced with one under the node's passphrase is not tried again")
	}
}

// TestRotateEncryptionKeyKeepsTheOldOne: the replaced key stays in the
// keystore under <reader>.enc.<n>, is no principal's signing key, and opens
// what was wrapped to it, from a keyring that holds both.
func TestRotateEncryptionKeyKeepsTheOldOne(t *testing.T) {
	ks := testKeystore(t)
	first := mustEncryptionKey(t, ks, "hosp-a", nodePass)
	second, kept, err := RotateEncryptionKey(ks, "hosp-a", nodePass)
	if err != nil || kept != "hosp-a.enc.1" {
		t.Fatalf("first rotation kept %q: %v", kept, err)
	}
	third, kept, err := RotateEncryptionKey(ks, "hosp-a", nodePass)
	if err != nil || kept != "hosp-a.enc.2" {
		t.Fatalf("second rotation kept %q: %v", kept, err)
	}
	if cur, err := LoadEncryptionKey(ks, "hosp-a", nodePass); err != nil || string(cur.Public().Bytes()) != string(third.Public().Bytes()) {
		t.Fatalf("current key after two rotations: %v", err)
	}
	if id, ok := PrincipalOfKeyName("hosp-a.enc.1"); ok {
		t.Errorf("hosp-a.enc.1 names principal %s", id)
	}
	kr, _, err := OpenNodeKeys(ks, nodePass, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := kr.identity("hosp-a")
	for i, k := range []*seal.PrivateKey{first, second, third} {
		ek, _ := seal.NewEpochKey()
		w, _ := seal.WrapEpochKey(k.Public(), ek, "patient/p", "lab", uint32(i+1))
		if got, err := seal.UnwrapEpochKey(id, w, "patient/p", "lab", uint32(i+1)); err != nil || got != ek {
			t.Errorf("a wrap to key %d does not open: %v", i, err)
		}
	}
	if held := kr.held("hosp-a"); len(held) != 3 || string(held[0].Public().Bytes()) != string(third.Public().Bytes()) {
		t.Errorf("held %d keys of hosp-a, the current one first: %v", len(held), len(held) > 0 && string(held[0].Public().Bytes()) == string(third.Public().Bytes()))
	}
}
