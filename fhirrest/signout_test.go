package fhirrest_test

import (
	"crypto/ed25519"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
)

// TestPatientKeysLeaveMemoryAtSignOut: a custodial patient's keys, which
// only their passphrase login put in the node's memory, are forgotten once
// their session has ended; keys the node held before a login stay.
func TestPatientKeysLeaveMemoryAtSignOut(t *testing.T) {
	var ahead atomic.Int64
	e := setupWith(t, func(o *fhirrest.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	// The patient's encryption key is in the keystore under their
	// passphrase, not in the node's memory.
	e.svc.Keys().Remove("patient/p")
	if err := e.opts.Keystore.Import(records.EncryptionKeyName("patient/p"), ed25519.NewKeyFromSeed(e.patientEnc.Bytes()), []byte("patient pass")); err != nil {
		t.Fatal(err)
	}
	held := func() bool { return e.cust.Holds("patient/p") || e.svc.Keys().Holds("patient/p") }
	ptok := e.patientToken()
	if !e.cust.Holds("patient/p") || !e.svc.Keys().Holds("patient/p") {
		t.Fatal("login did not put the patient's keys in memory")
	}
	if r := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", ptok, nil); r.status != http.StatusOK {
		t.Fatalf("the signed-in patient's access log: %d %s", r.status, r.rawBody)
	}
	ahead.Store(int64(10 * time.Minute)) // the session (15 minutes) goes on
	e.do("GET", "/fhir/metadata", "", nil)
	e.do("GET", "/fhir/Observation", "no token", nil)
	if !held() {
		t.Fatal("keys forgotten while the session lasts")
	}
	ahead.Store(int64(16 * time.Minute))
	e.do("GET", "/fhir/Observation", "no token", nil).outcome(t, http.StatusUnauthorized, "bearer token")
	if held() {
		t.Fatal("the patient's keys stay in memory after their session ended")
	}
	e.patientToken() // signing in again brings them back
	if !held() {
		t.Fatal("a new login did not bring the keys back")
	}
	// Keys held before a login (dr-a's here) are not the session's.
	if _, ok := e.cust.Signer("hosp-a/dr-a"); !ok {
		t.Fatal("a key the node held from the start was forgotten")
	}
}
