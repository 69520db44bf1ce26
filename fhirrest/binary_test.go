package fhirrest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

// blobNode is one node's records service with its own blob store, FHIR API
// and node API, over the ledger of setup's node (the blob store is what is
// node-local; the ledger is shared as a consortium's is).
type blobNode struct {
	*env
	dir   string
	blobs *store.Blobs
	api   *httptest.Server // the node API: GET /v1/blobs/{hash}
}

// newBlobNode starts a node of e's ledger with the keys of e's service,
// fetching missing blobs from peers.
func newBlobNode(t *testing.T, e *env, name string, peers records.BlobSource) *blobNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := store.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := records.New(e.n, e.svc.Keys(), records.Options{Node: name, Blobs: blobs, BlobPeers: peers})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	opts := e.opts
	opts.Records, opts.BaseURL = svc, srv.URL
	fhirrest.Register(mux, opts)
	api := httptest.NewServer(nodeapi.NewHandler(e.n, nodeapi.Options{Records: svc, NodeID: strings.Repeat("ab", 20)}))
	t.Cleanup(api.Close)
	ne := *e
	ne.srv, ne.svc = srv, svc
	return &blobNode{env: &ne, dir: dir, blobs: blobs, api: api}
}

// file is the path of the stored blob named hash.
func (n *blobNode) file(hash []byte) string {
	h := hex.EncodeToString(hash)
	return filepath.Join(n.dir, h[:2], h)
}

const imagingStudy = `{"resourceType":"ImagingStudy","status":"available","subject":{"reference":"Patient/p"},
 "series":[{"uid":"1.2.3.4","modality":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"CT"},
  "instance":[{"uid":"1.2.3.4.1","sopClass":{"system":"urn:ietf:rfc:3986","code":"urn:oid:1.2.840.10008.5.1.4.1.1.2"}%s}]}]}`

// TestBinaryContentOffTheLedger: an image uploaded to node A is sealed in
// A's blob store, the ledger holds only its hash and size; node B pulls it
// from A on its first read and checks it; a copy altered on B's disk is
// refused (500) and fetched again; with A gone, B still serves it. Reads
// are consent-checked and in the patient's access log.
func TestBinaryContentOffTheLedger(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	anchorer := e.nodePrincipal(ctx)
	a := newBlobNode(t, e, "node-a", nil)
	b := newBlobNode(t, e, "node-b", nodeapi.BlobPeers{nodeapi.NewClient(a.api.URL).As(anchorer.ID, anchorer.Key)})
	tok := a.token("hosp-a/dr-a")

	r := a.do("POST", "/fhir/ImagingStudy", tok, []byte(fmt.Sprintf(imagingStudy, "")))
	if r.status != 201 {
		t.Fatalf("ImagingStudy: %d %s", r.status, r.rawBody)
	}
	study := r.body["id"].(string)
	image := make([]byte, 300<<10)
	rand.Read(image)
	r = a.do("POST", "/fhir/Binary", tok, image, "Content-Type", "application/dicom", "X-Security-Context", "ImagingStudy/"+study)
	if r.status != 201 || r.body["contentType"] != "application/dicom" || r.body["data"] != nil {
		t.Fatalf("upload: %d %s", r.status, r.rawBody)
	}
	loc := r.header.Get("Location")
	bin, _, _ := strings.Cut(strings.TrimPrefix(loc, a.srv.URL+"/fhir/Binary/"), "/")
	if bin == "" || !strings.HasPrefix(loc, a.srv.URL+"/fhir/Binary/") {
		t.Fatalf("Location %q", loc)
	}

	// The ledger: a small version in the study's category naming the blob.
	rv, err := e.n.App().Latest().RecordVersion(bin, 0)
	if err != nil || rv.Blob == nil || rv.Category != "imaging" || rv.Patient != "patient/p" || len(rv.Ciphertext) > 1024 {
		t.Fatalf("record version: %+v %v", rv, err)
	}
	t.Logf("a %d-byte image: %d bytes of ciphertext on the ledger, a %d-byte sealed blob off it", len(image), len(rv.Ciphertext), rv.Blob.Size)
	sealed, err := os.ReadFile(a.file(rv.Blob.Hash))
	if sum := sha256.Sum256(sealed); err != nil || !bytes.Equal(sum[:], rv.Blob.Hash) || int64(len(sealed)) != rv.Blob.Size {
		t.Fatalf("A's stored blob does not match the ledger's hash: %v", err)
	}
	if bytes.Contains(sealed, image[:64]) || bytes.Contains(sealed, image[len(image)-64:]) {
		t.Fatal("the stored blob holds plaintext")
	}

	// The ImagingStudy's instance references the Binary (R4-valid).
	sum1 := sha1.Sum(image)
	ext := fmt.Sprintf(`,"extension":[{"url":"%s","valueAttachment":{"contentType":"application/dicom","url":"Binary/%s","size":%d,"hash":"%s"}}]`,
		fhirrest.InstanceContentURL, bin, len(image), base64.StdEncoding.EncodeToString(sum1[:]))
	updated := strings.Replace(fmt.Sprintf(imagingStudy, ext), `"resourceType":"ImagingStudy",`, `"resourceType":"ImagingStudy","id":"`+study+`",`, 1)
	if r := a.do("PUT", "/fhir/ImagingStudy/"+study, tok, []byte(updated)); r.status != 200 || !strings.Contains(string(r.rawBody), "Binary/"+bin) {
		t.Fatalf("ImagingStudy with the reference: %d %s", r.status, r.rawBody)
	}

	// Reads on A: raw, and as a FHIR Binary.
	r = a.do("GET", "/fhir/Binary/"+bin, tok, nil, "Accept", "application/dicom")
	if r.status != 200 || !bytes.Equal(r.rawBody, image) || r.header.Get("Content-Type") != "application/dicom" {
		t.Fatalf("raw read on A: %d %s", r.status, r.header)
	}
	r = a.do("GET", "/fhir/Binary/"+bin, tok, nil, "Accept", "application/fhir+json")
	if r.status != 200 || r.body["resourceType"] != "Binary" || r.body["data"] != base64.StdEncoding.EncodeToString(image) {
		t.Fatalf("FHIR read on A: %d", r.status)
	}
	if _, err := fhirjson.Parse(r.rawBody); err != nil { // the R4 schema
		t.Fatalf("the Binary served is not valid R4: %v", err)
	}

	// B has no copy: its first read pulls it from A and checks it.
	btok := b.token("hosp-a/dr-a")
	if _, err := os.Stat(b.file(rv.Blob.Hash)); err == nil {
		t.Fatal("B holds the blob before anything asked for it")
	}
	if r := b.do("GET", "/fhir/Binary/"+bin, btok, nil, "Accept", "*/*"); r.status != 200 || !bytes.Equal(r.rawBody, image) {
		t.Fatalf("read on B: %d %s", r.status, r.rawBody)
	}
	// Altered on B's disk: refused, never served; the next read fetches a
	// good copy again.
	altered, _ := os.ReadFile(b.file(rv.Blob.Hash))
	altered[len(altered)/2] ^= 1
	if err := os.WriteFile(b.file(rv.Blob.Hash), altered, 0o600); err != nil {
		t.Fatal(err)
	}
	r = b.do("GET", "/fhir/Binary/"+bin, btok, nil, "Accept", "application/dicom")
	r.outcome(t, 500, "does not match the hash on the ledger")
	if bytes.Contains(r.rawBody, image[:16]) {
		t.Fatal("the refusal carries content")
	}
	if r := b.do("GET", "/fhir/Binary/"+bin, btok, nil); r.status != 200 || !bytes.Equal(r.rawBody, image) {
		t.Fatalf("read on B after the repair: %d %s", r.status, r.rawBody)
	}

	// Background replication: a second image reaches B without a read.
	r = a.do("POST", "/fhir/Binary", tok, image[:1000], "Content-Type", "image/png", "X-Security-Context", "Patient/p")
	if r.status != 201 {
		t.Fatalf("second upload: %d %s", r.status, r.rawBody)
	}
	second, _, _ := strings.Cut(strings.TrimPrefix(r.header.Get("Location"), a.srv.URL+"/fhir/Binary/"), "/")
	if n, err := b.svc.ReplicateBlobs(ctx); n != 1 || err != nil {
		t.Fatalf("replication fetched %d: %v", n, err)
	}

	// The node API gives blobs to node principals only, signed.
	for who, c := range map[string]*nodeapi.Client{
		"a physician": nodeapi.NewClient(a.api.URL).As("hosp-a/dr-a", e.keys["hosp-a/dr-a"]), "unsigned": nodeapi.NewClient(a.api.URL),
	} {
		var se *nodeapi.StatusError
		if _, err := c.Blob(ctx, rv.Blob.Hash, rv.Blob.Size); !errors.As(err, &se) || (se.Status != 403 && se.Status != 401) {
			t.Errorf("GET /v1/blobs, %s: %v", who, err)
		}
	}

	// A copy altered on A's disk is not given to B; A moves it aside and,
	// with no peer, answers 503.
	r = a.do("POST", "/fhir/Binary", tok, image[:2000], "Content-Type", "image/png", "X-Security-Context", "Patient/p")
	third, _, _ := strings.Cut(strings.TrimPrefix(r.header.Get("Location"), a.srv.URL+"/fhir/Binary/"), "/")
	rv3, err := e.n.App().Latest().RecordVersion(third, 0)
	if r.status != 201 || err != nil {
		t.Fatalf("third upload: %d %v", r.status, err)
	}
	altered, _ = os.ReadFile(a.file(rv3.Blob.Hash))
	altered[0] ^= 1
	os.WriteFile(a.file(rv3.Blob.Hash), altered, 0o600)
	b.do("GET", "/fhir/Binary/"+third, btok, nil).outcome(t, 503, "no other node gave a copy")
	if _, err := os.Stat(b.file(rv3.Blob.Hash)); err == nil {
		t.Fatal("B kept an altered copy")
	}
	if _, err := os.Stat(a.file(rv3.Blob.Hash) + ".altered"); err != nil {
		t.Fatalf("A did not move its altered copy aside: %v", err)
	}
	a.do("GET", "/fhir/Binary/"+third, tok, nil).outcome(t, 503, "retry later")

	// A is gone: B serves both from its own copies.
	a.api.Close()
	a.srv.Close()
	for id, want := range map[string][]byte{bin: image, second: image[:1000]} {
		if r := b.do("GET", "/fhir/Binary/"+id, btok, nil, "Accept", "application/octet-stream"); r.status != 200 || !bytes.Equal(r.rawBody, want) {
			t.Fatalf("B without A, %s: %d %s", id, r.status, r.rawBody)
		}
	}

	// Consent: hosp-b's physician may not read it (as absent), and both
	// reads are in the patient's log.
	b.do("GET", "/fhir/Binary/"+bin, b.token("hosp-b/dr-b"), nil).outcome(t, 404, "not found")
	stopped, stop := context.WithCancel(ctx)
	stop()
	b.svc.RunAnchors(stopped, anchorer, time.Hour)
	events, err := b.svc.AuditLog("patient/p")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, ev := range events {
		if ev.RecordID == bin && ev.Action == "read" {
			seen = append(seen, ev.Requester+" "+ev.Decision)
		}
	}
	if !slices.Contains(seen, "hosp-a/dr-a "+carechain.DecisionAllow) || !slices.Contains(seen, "hosp-b/dr-b "+carechain.DecisionDeny) {
		t.Fatalf("access log of the Binary: %v", seen)
	}
}

// TestBinaryRequests: the Binary JSON form, and refusals, each with an
// OperationOutcome and nothing written; the CapabilityStatement lists
// exactly create and read.
func TestBinaryRequests(t *testing.T) {
	e := setup(t)
	n := newBlobNode(t, e, "node", nil)
	tok := n.token("hosp-a/dr-a")
	text := []byte("a scanned referral letter")
	body := fmt.Sprintf(`{"resourceType":"Binary","contentType":"text/plain","securityContext":{"reference":"Patient/p"},"data":"%s"}`,
		base64.StdEncoding.EncodeToString(text))
	r := n.do("POST", "/fhir/Binary", tok, []byte(body))
	if r.status != 201 {
		t.Fatalf("Binary JSON: %d %s", r.status, r.rawBody)
	}
	id := r.body["id"].(string)
	if r := n.do("GET", "/fhir/Binary/"+id, tok, nil, "Accept", "text/plain"); r.status != 200 || !bytes.Equal(r.rawBody, text) ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("raw: %d %s %v", r.status, r.rawBody, r.header)
	}
	heads, _ := e.n.App().Latest().PatientRecords("patient/p")
	for _, c := range []struct {
		name, body string
		hdr        []string
		status     int
		mention    string
	}{
		{"no security context", "x", []string{"Content-Type", "image/png"}, 422, "securityContext"},
		{"a context not readable", "x", []string{"Content-Type", "image/png", "X-Security-Context", "ImagingStudy/rec-none"}, 404, "not found"},
		{"no content", "", []string{"Content-Type", "image/png", "X-Security-Context", "Patient/p"}, 400, "needs content"},
		{"bad base64", `{"resourceType":"Binary","contentType":"text/plain","securityContext":{"reference":"Patient/p"},"data":"%%%"}`, nil, 400, "base64"},
		{"invalid Binary", `{"resourceType":"Binary","securityContext":{"reference":"Patient/p"},"data":"eA==","colour":"red"}`, nil, 400, "colour"},
		{"too large", strings.Repeat("x", carechain.MaxBlobBytes+1), []string{"Content-Type", "image/png", "X-Security-Context", "Patient/p"}, 413, "over"},
	} {
		n.do("POST", "/fhir/Binary", tok, []byte(c.body), c.hdr...).outcome(t, c.status, c.mention)
	}
	if after, _ := e.n.App().Latest().PatientRecords("patient/p"); len(after) != len(heads) {
		t.Fatalf("a refused upload wrote a record: %d then %d", len(heads), len(after))
	}
	n.do("PUT", "/fhir/Binary/"+id, tok, []byte(body)).outcome(t, 405, "create")
	n.do("GET", "/fhir/Binary?_id="+id, tok, nil).outcome(t, 405, "create")
	for _, res := range n.capabilities() {
		if res.Type != "Binary" {
			continue
		}
		var codes []string
		for _, i := range res.Interaction {
			codes = append(codes, i.Code)
		}
		if !slices.Equal(codes, []string{"create", "read"}) || len(res.SearchParam) != 0 {
			t.Fatalf("Binary's capabilities: %v", codes)
		}
		return
	}
	t.Fatal("the CapabilityStatement does not list Binary")
}
