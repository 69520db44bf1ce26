package fhirrest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

// setupIndexed is setup with a records service that keeps a blind search
// index (in a temporary directory), serving the FHIR API from a new server.
func setupIndexed(t *testing.T) *env {
	t.Helper()
	e := setup(t)
	e.withIndex()
	return e
}

// withIndex turns e into setupIndexed's: a new records service with an
// empty index, and a new server.
func (e *env) withIndex() {
	t := e.t
	idx, err := store.OpenIndex(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	svc, err := records.New(e.n, e.svc.Keys(), records.Options{Node: "fhir", Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts := e.opts
	opts.Records, opts.BaseURL = svc, srv.URL
	fhirrest.Register(mux, opts)
	e.srv, e.svc, e.opts, e.index = srv, svc, opts, idx
}

// registerPatientWithKey registers a patient of hosp-a and puts their
// encryption key in the node's keyring (so the service grants for them).
func (e *env) registerPatientWithKey(ctx context.Context, id string) records.Signer {
	e.t.Helper()
	e.svc.Keys().Add(id, e.registerPatient(ctx, id))
	return records.Signer{ID: id, Key: e.keys[id]}
}

// readGrant grants grantee reading every category of patient for
// treatment, and returns the grant's ID.
func (e *env) readGrant(ctx context.Context, patient records.Signer, grantee consent.Grantee) string {
	e.t.Helper()
	id, err := e.svc.Grant(ctx, patient, consent.Grant{Grantee: grantee, Categories: []string{consent.AnyCategory},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment},
		NotBefore: time.Now().Unix() - 60})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// patientsFound is the ids of the Patients a search found, sorted, and its total.
func (e *env) patientsFound(path, tok string) ([]string, float64) {
	e.t.Helper()
	r := e.do("GET", path, tok, nil)
	if r.status != 200 {
		e.t.Fatalf("%s: %d %s", path, r.status, r.rawBody)
	}
	var ids []string
	entries, _ := r.body["entry"].([]any)
	for _, en := range entries {
		res := en.(map[string]any)["resource"].(map[string]any)
		if res["resourceType"] != "Patient" {
			e.t.Fatalf("%s found a %v", path, res["resourceType"])
		}
		ids = append(ids, res["id"].(string))
	}
	slices.Sort(ids)
	total, _ := r.body["total"].(float64)
	return ids, total
}

// TestPractitionerFindsPatientsTheyMayReadWithoutPatientParam: hosp-a
// writes three Patients sharing a family name and birthdate. p grants all
// of hosp-b, q grants dr-b only, r grants nothing. Searching without
// patient=, by identifier or by family + birthdate, dr-b (hosp-b) finds p
// and q; dr-u (hosp-b, not named by q) finds p only, although hosp-b's
// index holds q (dr-b finds q): the consent check drops q. hosp-b's index
// never held r; dr-a of hosp-a, which wrote them all, finds the three.
func TestPractitionerFindsPatientsTheyMayReadWithoutPatientParam(t *testing.T) {
	e := setupIndexed(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	q := e.registerPatientWithKey(ctx, "patient/q")
	e.registerPatientWithKey(ctx, "patient/r")
	drA := e.token("hosp-a/dr-a")
	for i, id := range []string{"p", "q", "r"} {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"Okonkwo","given":["Ada"]}],"birthDate":"1980-05-17",
			"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-%d"}]}`, id, i+1)
		if r := e.do("PUT", "/fhir/Patient/"+id, drA, []byte(body)); r.status != 201 {
			t.Fatalf("put Patient/%s: %d %s", id, r.status, r.rawBody)
		}
	}
	e.createGlucose(drA, 90) // p's, before the grant: indexed for hosp-b when p grants
	e.readGrant(ctx, p, consent.Grantee{Org: "hosp-b"})
	qGrant := e.readGrant(ctx, q, consent.Grantee{Principal: "hosp-b/dr-b"})
	drB := e.token("hosp-b/dr-b")
	drU := e.registerStaff("hosp-b", "hosp-b/dr-u", carechain.RolePhysician)
	for _, c := range []struct {
		who, tok, path string
		want           []string
	}{
		{"dr-b", drB, "/fhir/Patient?identifier=urn:hosp-a:mrn|MRN-1", []string{"p"}},
		{"dr-b", drB, "/fhir/Patient?identifier=MRN-2", []string{"q"}},
		{"dr-b", drB, "/fhir/Patient?family=okonkwo&birthdate=1980-05-17", []string{"p", "q"}},
		{"dr-u", drU, "/fhir/Patient?identifier=urn:hosp-a:mrn|MRN-1", []string{"p"}},
		{"dr-u", drU, "/fhir/Patient?identifier=MRN-2", nil},
		{"dr-u", drU, "/fhir/Patient?family=Okonkwo&birthdate=1980-05-17", []string{"p"}},
		{"dr-u", drU, "/fhir/Patient?name=oko", []string{"p"}},
		{"dr-b", drB, "/fhir/Patient?identifier=MRN-3", nil},
		{"dr-b", drB, "/fhir/Patient?family=Okonkwo&birthdate=1980-05-18", nil},
		{"dr-b", drB, "/fhir/Patient?family=Okonkwo&birthdate=ge1981", nil}, // comparisons run after decryption
		{"dr-a", drA, "/fhir/Patient?family=Okonkwo&birthdate=1980", []string{"p", "q", "r"}},
		{"dr-a", drA, "/fhir/Patient?family=okonkwoo", nil},
		{"dr-a", drA, "/fhir/Patient?name=ADA&gender=female", nil}, // no gender written
	} {
		got, total := e.patientsFound(c.path, c.tok)
		if !slices.Equal(got, c.want) || int(total) != len(c.want) {
			t.Errorf("%s: %s found %v (total %v), want %v", c.who, c.path, got, total, c.want)
		}
	}
	// Paging over the consent-filtered list: dr-a's three, one at a time.
	var paged []string
	for off := range 3 {
		got, total := e.patientsFound(fmt.Sprintf("/fhir/Patient?family=okonkwo&_count=1&_offset=%d", off), drA)
		if total != 3 || len(got) != 1 {
			t.Fatalf("page %d: %v, total %v", off, got, total)
		}
		paged = append(paged, got...)
	}
	if !slices.Equal(paged, []string{"p", "q", "r"}) {
		t.Errorf("pages: %v", paged)
	}
	// Observations by code, across patients: p's glucose, for hosp-b through p's grant.
	for _, tok := range []string{drA, drU} {
		if r := e.do("GET", "/fhir/Observation?code=http://loinc.org|2345-7", tok, nil); r.status != 200 || r.body["total"] != 1.0 {
			t.Errorf("Observation?code=: %d %s", r.status, r.rawBody)
		}
	}
	// q revokes dr-b's grant through this node: hosp-b's entries of q go
	// (hosp-a wrote q's Patient), so dr-b's search no longer even reads q's
	// record: no refusal of dr-b reaches q's access log.
	if err := e.svc.Revoke(ctx, q, q.ID, qGrant); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.patientsFound("/fhir/Patient?family=okonkwo", drB); !slices.Equal(got, []string{"p"}) {
		t.Errorf("dr-b after q's revocation found %v", got)
	}
	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil {
		t.Fatal(err)
	}
	events, err := e.svc.AuditLog(q.ID)
	if err != nil {
		t.Fatal(err)
	}
	refusedDrU := false
	for _, ev := range events {
		if ev.Requester == "hosp-b/dr-b" && ev.Decision == carechain.DecisionDeny {
			t.Errorf("dr-b's search read q's record after the revocation: %+v", ev)
		}
		refusedDrU = refusedDrU || ev.Requester == "hosp-b/dr-u" && ev.Decision == carechain.DecisionDeny
	}
	if !refusedDrU {
		t.Error("dr-u's searches that found q in the index are not in q's access log as refusals")
	}
	// What the index does not serve is refused as before.
	if r := e.do("GET", "/fhir/Patient?gender:missing=true", drU, nil); r.status != 400 {
		t.Errorf("a search the index cannot serve: %d %s", r.status, r.rawBody)
	}
	if r := e.do("GET", "/fhir/Observation?status=final", drU, nil); r.status != 400 || !strings.Contains(string(r.rawBody), "patient=") {
		t.Errorf("an Observation search without patient or code: %d %s", r.status, r.rawBody)
	}
}

// TestRebuiltIndexFindsRecordsWrittenBeforeIt: a Patient written through a
// service without an index is not found across patients until the index is
// rebuilt (as carechain start does when its index is empty); then it is.
func TestRebuiltIndexFindsRecordsWrittenBeforeIt(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body := `{"resourceType":"Patient","id":"p","name":[{"family":"Okonkwo"}],"identifier":[{"system":"urn:hosp-a:mrn","value":"MRN-1"}]}`
	if r := e.do("PUT", "/fhir/Patient/p", e.token("hosp-a/dr-a"), []byte(body)); r.status != 201 {
		t.Fatalf("put Patient/p: %d %s", r.status, r.rawBody)
	}
	e.withIndex()
	drA := e.token("hosp-a/dr-a")
	if got, _ := e.patientsFound("/fhir/Patient?identifier=MRN-1", drA); len(got) != 0 {
		t.Fatalf("found %v in an index that was never written", got)
	}
	n, err := e.svc.RebuildIndex(ctx)
	if err != nil || n < 1 {
		t.Fatalf("rebuild: %d patients, %v", n, err)
	}
	for _, path := range []string{"/fhir/Patient?identifier=MRN-1", "/fhir/Patient?family=okon"} {
		if got, _ := e.patientsFound(path, drA); !slices.Equal(got, []string{"p"}) {
			t.Errorf("%s after the rebuild: %v", path, got)
		}
	}
}
