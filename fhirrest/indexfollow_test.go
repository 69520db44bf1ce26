package fhirrest_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

// TestIndexFollowsTheChain: the search index learns of writes, grants and
// revocations it did not make, as those of another node or of a client
// that signs its own transactions, here made through a second server
// whose records service keeps no index. RunIndex rebuilds a new index from
// the chain, follows each block, and after a restart catches up with the
// blocks committed while it was stopped.
func TestIndexFollowsTheChain(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	other, otherSvc := e.srv, e.svc // no index: it never writes one
	putPatient := func(id string, mrn int) {
		t.Helper()
		cur := e.srv
		e.srv = other
		defer func() { e.srv = cur }()
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Okafor"}],"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-%d"}]}`, id, mrn)
		if r := e.do("PUT", "/fhir/Patient/"+id, e.token("hosp-a/dr-a"), []byte(body)); r.status != 201 {
			t.Fatalf("put Patient/%s elsewhere: %d %s", id, r.status, r.rawBody)
		}
	}
	for _, id := range []string{"patient/q", "patient/r"} {
		e.registerPatient(ctx, id)
	}
	putPatient("p", 1) // before the index exists

	e.withIndex()
	follow := func() (stop func()) {
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.svc.RunIndex(rctx, e.n.Follow) }()
		stop = sync.OnceFunc(func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("RunIndex: %v", err)
			}
		})
		t.Cleanup(stop) // before the index closes
		return stop
	}
	stop := follow()
	drA := e.token("hosp-a/dr-a")
	e.eventuallyFinds(drA, "/fhir/Patient?identifier=MRN-1", []string{"p"}, "a record written before the index existed")

	putPatient("q", 2)
	e.eventuallyFinds(drA, "/fhir/Patient?identifier=MRN-2", []string{"q"}, "a record written elsewhere")

	// hosp-b's index holds q only once q grants it, elsewhere; a revocation
	// elsewhere takes q out of it again.
	q := e.registerPatientWithKeyIn(ctx, otherSvc, "patient/q2")
	drB := e.token("hosp-b/dr-b")
	if r := e.do("PUT", "/fhir/Patient/q2", drA, []byte(`{"resourceType":"Patient","id":"q2","name":[{"family":"Okafor"}],"birthDate":"1990-01-02"}`)); r.status != 201 {
		t.Fatalf("put Patient/q2: %d %s", r.status, r.rawBody)
	}
	e.eventuallyFinds(drB, "/fhir/Patient?family=okafor&birthdate=1990-01-02", nil, "a patient who has not granted hosp-b")
	grant, err := otherSvc.Grant(ctx, q, consent.Grant{Grantee: consent.Grantee{Org: "hosp-b"}, Categories: []string{consent.AnyCategory},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60})
	if err != nil {
		t.Fatal(err)
	}
	e.eventuallyFinds(drB, "/fhir/Patient?family=okafor&birthdate=1990-01-02", []string{"q2"}, "after a grant made elsewhere")
	if err := otherSvc.Revoke(ctx, q, q.ID, grant); err != nil {
		t.Fatal(err)
	}
	e.eventuallyFinds(drB, "/fhir/Patient?family=okafor&birthdate=1990-01-02", nil, "after a revocation made elsewhere")

	stop()
	putPatient("r", 3) // while the index does not follow
	if got, _ := e.patientsFound("/fhir/Patient?identifier=MRN-3", drA); len(got) != 0 {
		t.Fatalf("found %v with the index stopped", got)
	}
	stop = follow()
	e.eventuallyFinds(drA, "/fhir/Patient?identifier=MRN-3", []string{"r"}, "a record written while the index was stopped")
	e.eventuallyFinds(drA, "/fhir/Patient?identifier=MRN-1", []string{"p"}, "after catching up")

	// An index of an older format is emptied and rebuilt.
	stop()
	stale := bytes.Repeat([]byte{7}, store.IndexTokenSize)
	if err := e.index.Replace([]byte("hosp-a\x00patient/zz\x00gone"), [][]byte{stale}); err != nil {
		t.Fatal(err)
	}
	if err := e.index.SetFormat(records.IndexFormat - 1); err != nil {
		t.Fatal(err)
	}
	follow()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		f, _ := e.index.Format()
		h, _ := e.index.Height()
		if f == records.IndexFormat && h > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rebuild for the new format: format %d, height %d", f, h)
		}
	}
	e.eventuallyFinds(drA, "/fhir/Patient?identifier=MRN-3", []string{"r"}, "after a rebuild for a new format")
	if m, err := e.index.Lookup(stale, 10); len(m) != 0 || err != nil {
		t.Fatalf("an entry of the old format survived: %q, %v", m, err)
	}
}

// eventuallyFinds waits until the search path finds exactly the Patients
// want (sorted ids) for tok, or fails the test after 20 s.
func (e *env) eventuallyFinds(tok, path string, want []string, what string) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := e.patientsFound(path, tok)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: %s found %v, want %v", what, path, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// registerPatientWithKeyIn registers a patient of hosp-a whose encryption
// key svc's keyring holds (so svc grants for them).
func (e *env) registerPatientWithKeyIn(ctx context.Context, svc *records.Service, id string) records.Signer {
	e.t.Helper()
	svc.Keys().Add(id, e.registerPatient(ctx, id))
	return records.Signer{ID: id, Key: e.keys[id]}
}
