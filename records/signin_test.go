package records_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/records"
)

// TestSignInHoldsPatientKeysUntilEveryHolderLeaves: a patient's sign-in
// puts their signing and encryption keys in memory for its holder (a FHIR
// token family, a portal session); they leave when the last holder signs
// out or expires, and keys held before any sign-in stay. Wrong passphrases
// and unknown principals fail alike, and repeated failures are throttled.
func TestSignInHoldsPatientKeysUntilEveryHolderLeaves(t *testing.T) {
	w := newWorld(t)
	pass := []byte("patient pass")
	ks, err := keystore.Open(t.TempDir(), keystore.FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Import("patient.p1", w.patient.Key, pass); err != nil {
		t.Fatal(err)
	}
	if err := ks.Import(records.EncryptionKeyName(w.patient.ID), ed25519.NewKeyFromSeed(w.patientK.Bytes()), pass); err != nil {
		t.Fatal(err)
	}
	cust, kr := &records.Custodian{}, &records.Keyring{}
	si := records.NewSignIns(w.nodes[0].App(), ks, cust, kr, 2, nil)
	ctx, now := context.Background(), time.Now()
	held := func() bool { return cust.Holds(w.patient.ID) || kr.Holds(w.patient.ID) }
	signIn := func(id, holder string, pass []byte, until time.Time) error {
		_, err := si.SignIn(ctx, id, pass, "192.0.2.1", holder, now, until)
		return err
	}

	for _, id := range []string{w.patient.ID, "patient/nobody"} {
		if err := signIn(id, "x", []byte("wrong"), now.Add(time.Minute)); !errors.Is(err, records.ErrSignInFailed) {
			t.Fatalf("sign-in of %s with a wrong passphrase: %v", id, err)
		}
	}
	for _, holder := range []string{"portal a", "portal b"} {
		if err := signIn(w.patient.ID, holder, pass, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if !cust.Holds(w.patient.ID) || !kr.Holds(w.patient.ID) {
		t.Fatal("sign-in did not put the patient's keys in memory")
	}
	si.SignOut(w.patient.ID, "portal a")
	if !held() {
		t.Fatal("keys forgotten while another session holds them")
	}
	si.SignOut(w.patient.ID, "portal b")
	if held() {
		t.Fatal("keys stay after the last session signed out")
	}

	if err := signIn(w.patient.ID, "fhir", pass, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	si.ForgetEnded(now.Add(30 * time.Second))
	if !held() {
		t.Fatal("keys forgotten before the session ended")
	}
	si.ForgetEnded(now.Add(2 * time.Minute))
	if held() {
		t.Fatal("keys stay after the session expired")
	}

	// Keys held before a sign-in are no session's.
	cust.Add(w.patient.ID, w.patient.Key)
	if err := signIn(w.patient.ID, "portal c", pass, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	si.SignOut(w.patient.ID, "portal c")
	if !cust.Holds(w.patient.ID) {
		t.Fatal("a sign-out forgot keys held before the sign-in")
	}

	var throttled *records.ThrottledError
	for i := 0; !errors.As(err, &throttled); i++ {
		if i > 10 {
			t.Fatal("repeated failures are not throttled")
		}
		err = signIn("hosp-a/dr-a", "x", []byte("guess"), now)
	}
	if err := signIn("hosp-a/dr-a", "x", []byte("guess"), now); !errors.As(err, &throttled) || throttled.Seconds() < 1 {
		t.Fatalf("a throttled sign-in: %v", err)
	}
}
