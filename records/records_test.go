package records_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

const chainID = "records-test"

// world is a two-node consortium: node0 serves hosp-a, research-d and
// pharm-e; node1 serves hosp-b and lab-c.
type world struct {
	t        *testing.T
	nodes    []*node.Node
	homes    []node.Home
	svc      []*records.Service
	clock    []*clock
	signers  map[string]records.Signer
	orgKeys  map[string]*seal.PrivateKey
	patient  records.Signer
	patientK *seal.PrivateKey
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// genesis is a genesis of orgs, each with an encryption key (w.orgKeys)
// and an admin, ORG/admin (w.signers).
func (w *world) genesis(orgs []carechain.Organization) ledger.Genesis {
	w.t.Helper()
	g := ledger.Genesis{}
	for _, o := range orgs {
		ek, err := seal.GenerateKey()
		if err != nil {
			w.t.Fatal(err)
		}
		w.orgKeys[o.ID] = ek
		o.EncryptionKey = ek.Public().Bytes()
		admin := records.Signer{ID: o.ID + "/admin", Key: newKey(w.t)}
		w.signers[admin.ID] = admin
		g.Organizations = append(g.Organizations, ledger.GenesisOrg{Organization: o,
			Admins: []ledger.GenesisAdmin{{ID: admin.ID, PublicKey: admin.Key.Public().(ed25519.PublicKey)}}})
	}
	return g
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, signers: map[string]records.Signer{}, orgKeys: map[string]*seal.PrivateKey{}}
	orgs := []carechain.Organization{
		{ID: "hosp-a", Name: "Hospital A", Type: carechain.OrgHospital},
		{ID: "hosp-b", Name: "Hospital B", Type: carechain.OrgHospital},
		{ID: "lab-c", Name: "Lab C", Type: carechain.OrgLab},
		{ID: "research-d", Name: "Research D", Type: carechain.OrgResearch},
		{ID: "pharm-e", Name: "Pharmacy E", Type: carechain.OrgPharmacy},
	}
	g := w.genesis(orgs)
	// node0 is hosp-a's node, node1 hosp-b's: they anchor access events.
	nodeOrgs := []string{"hosp-a", "hosp-b"}
	homes, err := node.Testnet(t.TempDir(), node.TestnetOptions{Validators: 2, ChainID: chainID, Genesis: g,
		Node: func(i int, h node.Home) (ledger.GenesisNode, error) {
			s := records.Signer{ID: fmt.Sprintf("%s/node%d", nodeOrgs[i], i), Key: newKey(t)}
			w.signers[s.ID] = s
			id, err := h.NodeID()
			return ledger.GenesisNode{ID: s.ID, NodeID: id, PublicKey: s.Key.Public().(ed25519.PublicKey)}, err
		},
		Tune: func(_ int, c *node.Config) {
			c.TimeoutCommit = node.Duration(10 * time.Millisecond)
			// Block time moves on while the chain is idle, so that a test
			// can wait for a block past an expiry (node.WaitBlockTime).
			c.EmptyBlockInterval = node.Duration(100 * time.Millisecond)
		}})
	if err != nil {
		t.Fatal(err)
	}
	w.homes = homes
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	serves := [][]string{{"hosp-a", "research-d", "pharm-e"}, {"hosp-b", "lab-c"}}
	for _, h := range homes {
		n, err := node.Start(ctx, h, node.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Stop() })
		w.nodes = append(w.nodes, n)
	}
	for i, n := range w.nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		kr := &records.Keyring{}
		for _, o := range serves[i] {
			kr.Add(o, w.orgKeys[o])
		}
		c := &clock{}
		svc, err := records.New(n, kr, records.Options{Node: fmt.Sprintf("node%d", i), Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		w.svc, w.clock = append(w.svc, svc), append(w.clock, c)
	}
	// Staff and one patient, registered through node0.
	staff := []struct {
		id    string
		roles []carechain.Role
	}{
		{"hosp-a/dr-a", []carechain.Role{carechain.RolePhysician}},
		{"hosp-a/dr-a2", []carechain.Role{carechain.RolePhysician}},
		{"hosp-a/clerk", []carechain.Role{carechain.RoleRegistrationClerk}},
		{"hosp-b/dr-b", []carechain.Role{carechain.RolePhysician}},
		{"hosp-b/dr-u", []carechain.Role{carechain.RolePhysician}},
		{"lab-c/dr-e", []carechain.Role{carechain.RolePhysician}},
		{"research-d/res", []carechain.Role{carechain.RoleResearcher}},
		{"pharm-e/ph", []carechain.Role{carechain.RolePharmacist}},
	}
	for _, s := range staff {
		k := newKey(t)
		w.signers[s.id] = records.Signer{ID: s.id, Key: k}
		w.submit(carechain.OrgOf(s.id)+"/admin", tx.TypeRegister, &tx.Register{ID: s.id, Kind: carechain.KindPractitioner, Roles: s.roles, PublicKey: k.Public().(ed25519.PublicKey)})
	}
	pk, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	w.patient = records.Signer{ID: "patient/p1", Key: newKey(t)}
	w.patientK = pk
	w.signers[w.patient.ID] = w.patient
	w.submit("hosp-a/clerk", tx.TypeRegister, &tx.Register{ID: w.patient.ID, Kind: carechain.KindPatient,
		PublicKey: w.patient.Key.Public().(ed25519.PublicKey), EncryptionKey: pk.Public().Bytes()})
	return w
}

// submit signs and commits a transaction through node0; it must be accepted.
// It waits up to 2 minutes: under -race with every package testing at once
// on 2 cores, a two-node world once took over 30 s to commit one (CI).
func (w *world) submit(signer string, typ tx.Type, body any) {
	w.t.Helper()
	s := w.signers[signer]
	app := w.nodes[0].App()
	nonce, err := app.Latest().NextNonce(signer)
	if err != nil {
		w.t.Fatal(err)
	}
	raw, err := tx.Sign(s.Key, chainID, signer, nonce, typ, body)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.nodes[0].Submit(ctx, raw)
	if err != nil || !out.Accepted() {
		w.t.Fatalf("%s by %s: %+v %v", typ, signer, out, err)
	}
}

func observation(marker string) []byte {
	return []byte(`{"resourceType":"Observation","status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}],"text":"` + marker + `"},
	  "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-20T08:30:00Z",
	  "valueQuantity":{"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}`)
}

func condition(marker string) []byte {
	return []byte(`{"resourceType":"Condition","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
	  "code":{"text":"` + marker + `"},"subject":{"reference":"Patient/p1"}}`)
}

// waitHeight waits until node i has committed height h.
func (w *world) waitHeight(i int, h int64) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.nodes[i].WaitHeight(ctx, h); err != nil {
		w.t.Fatalf("node%d: %v", i, err)
	}
}

// prove has node i prove the log entry (kind, key) once it is under a
// signed checkpoint, trying again after each of the node's commits.
func (w *world) prove(i int, kind, key string) *proof.Bundle {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		h, _ := w.nodes[i].App().Height()
		b, err := w.nodes[i].Prove(ctx, kind, key)
		if err == nil {
			return b
		}
		if !errors.Is(err, node.ErrNoCheckpoint) {
			w.t.Fatalf("prove %s %s: %v", kind, key, err)
		}
		if err := w.nodes[i].WaitHeight(ctx, h+1); err != nil {
			w.t.Fatalf("prove %s %s: never under a signed checkpoint: %v", kind, key, err)
		}
	}
}

// TestConsentScenario walks through who may read a patient's records and
// checks that every attempt reaches the patient's access log through the
// other node.
func TestConsentScenario(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The patient's custodial key is on node0.
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	drA := w.signers["hosp-a/dr-a"]
	labRec, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-glucose", Resource: observation("glucose-v1")})
	if err != nil {
		t.Fatal(err)
	}
	mhRec, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "mental-health", RecordID: "rec-mh", Resource: condition("mh-note")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	grantB, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment, consent.PurposeBilling},
		NotBefore: now - 60, Condition: `request.purpose == "treatment"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Org: "research-d", Role: carechain.RoleResearcher}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch}, NotBefore: now - 60,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Principal: "lab-c/dr-e"}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment},
		NotBefore: now - 60, NotAfter: now + 3600,
	}); err != nil {
		t.Fatal(err)
	}
	last, _ := w.nodes[0].App().Height()
	w.waitHeight(1, last)

	type step struct {
		name      string
		node      int
		requester string
		record    string
		version   uint64
		purpose   consent.Purpose
		allowed   bool
		reason    string // substring of the denial reason
	}
	read := func(s step) {
		t.Helper()
		rec, err := w.svc[s.node].Read(ctx, s.requester, s.record, s.version, s.purpose)
		var denied *records.DeniedError
		switch {
		case s.allowed && err != nil:
			t.Errorf("%s: denied: %v", s.name, err)
		case s.allowed && !bytes.Contains(rec.Resource, []byte(`"resourceType":"`)):
			t.Errorf("%s: decrypted %q", s.name, rec.Resource)
		case !s.allowed && !errors.As(err, &denied):
			t.Errorf("%s: want a denial, got %v", s.name, err)
		case !s.allowed && !strings.Contains(denied.Reason, s.reason):
			t.Errorf("%s: reason %q, want it to mention %q", s.name, denied.Reason, s.reason)
		}
	}
	steps := []step{
		{"patient reads own record", 0, w.patient.ID, "rec-glucose", 0, consent.PurposeTreatment, true, ""},
		{"author organization reads", 0, "hosp-a/dr-a2", "rec-mh", 0, consent.PurposeTreatment, true, ""},
		{"unrelated physician is denied", 1, "hosp-b/dr-u", "rec-glucose", 0, consent.PurposeTreatment, false, "no grant"},
		{"granted physician reads", 1, "hosp-b/dr-b", "rec-glucose", 0, consent.PurposeTreatment, true, ""},
		{"CEL condition: billing is refused", 1, "hosp-b/dr-b", "rec-glucose", 0, consent.PurposeBilling, false, "condition"},
		{"granted physician cannot read mental-health", 1, "hosp-b/dr-b", "rec-mh", 0, consent.PurposeTreatment, false, "mental-health"},
		{"researcher reads lab", 0, "research-d/res", "rec-glucose", 0, consent.PurposeResearch, true, ""},
		{"researcher cannot read mental-health", 0, "research-d/res", "rec-mh", 0, consent.PurposeResearch, false, "mental-health"},
		{"time-limited grant reads before expiry", 1, "lab-c/dr-e", "rec-glucose", 0, consent.PurposeTreatment, true, ""},
	}
	for _, s := range steps {
		read(s)
	}
	// Two hours later (node1's clock) the time-limited grant has expired.
	w.clock[1].advance(2 * time.Hour)
	read(step{"expired grant is denied", 1, "lab-c/dr-e", "rec-glucose", 0, consent.PurposeTreatment, false, "expired"})
	w.clock[1].advance(-2 * time.Hour)

	// Revoke dr-b; the next version starts a new epoch hosp-b cannot open.
	if err := w.svc[0].Revoke(ctx, w.patient, w.patient.ID, grantB); err != nil {
		t.Fatal(err)
	}
	v2, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-glucose", Resource: observation("glucose-v2")})
	if err != nil {
		t.Fatal(err)
	}
	w.waitHeight(1, v2.Height)
	if ep, _ := w.nodes[1].App().Latest().Epoch(w.patient.ID, "lab"); ep.Epoch < 2 {
		t.Fatalf("lab epoch after revoke: %+v", ep)
	}
	read(step{"revoked physician is denied", 1, "hosp-b/dr-b", "rec-glucose", 2, consent.PurposeTreatment, false, "revoked"})
	read(step{"revoked physician is denied the old version too", 1, "hosp-b/dr-b", "rec-glucose", 1, consent.PurposeTreatment, false, "revoked"})
	read(step{"author still reads the new version", 0, "hosp-a/dr-a", "rec-glucose", 2, consent.PurposeTreatment, true, ""})

	// Emergency: a hospital physician gets in at once; a pharmacist does not.
	// The rule escrows the current keys with every hospital.
	if err := w.svc[0].SetEmergencyRule(ctx, w.patient, consent.EmergencyRule{
		OrgTypes: []carechain.OrgType{carechain.OrgHospital}, Roles: []carechain.Role{carechain.RolePhysician},
		DurationSeconds: 24 * 3600, RequireReason: true,
	}); err != nil {
		t.Fatal(err)
	}
	last, _ = w.nodes[0].App().Height()
	w.waitHeight(1, last)
	if err := w.svc[1].InvokeEmergency(ctx, w.signers["hosp-b/dr-u"], w.patient.ID, "unconscious in A&E"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].InvokeEmergency(ctx, w.signers["pharm-e/ph"], w.patient.ID, "checking a prescription"); !errors.Is(err, records.ErrRejected) {
		t.Fatalf("pharmacist emergency: %v", err)
	}
	// The reason is on the ledger only sealed to the patient (node1 took the invocation).
	grants, _ := w.nodes[1].App().Latest().Grants(w.patient.ID)
	var sealedReason []byte
	for _, g := range grants {
		if g.Emergency {
			sealedReason = g.SealedReason
		}
	}
	if bytes.Contains(sealedReason, []byte("A&E")) {
		t.Fatal("emergency reason stored in plaintext")
	}
	if reason, err := records.OpenSealed(w.patientK, w.patient.ID, "emergency-reason", "hosp-b/dr-u", sealedReason); err != nil || string(reason) != "unconscious in A&E" {
		t.Fatalf("patient opens the reason: %q %v", reason, err)
	}
	last, _ = w.nodes[0].App().Height()
	w.waitHeight(1, last)
	read(step{"emergency access reads mental-health", 1, "hosp-b/dr-u", "rec-mh", 0, consent.PurposeEmergency, true, ""})
	read(step{"emergency access reads the newest lab version", 1, "hosp-b/dr-u", "rec-glucose", 0, consent.PurposeEmergency, true, ""})
	read(step{"pharmacist without emergency access is denied", 0, "pharm-e/ph", "rec-mh", 0, consent.PurposeEmergency, false, ""})

	// Every attempt reaches the patient's log, read through the other node.
	for i, svc := range w.svc {
		if err := svc.Flush(ctx, w.signers[[]string{"hosp-a/node0", "hosp-b/node1"}[i]]); err != nil {
			t.Fatal(err)
		}
	}
	h0, _ := w.nodes[0].App().Height()
	h1, _ := w.nodes[1].App().Height()
	w.waitHeight(0, h1)
	w.waitHeight(1, h0)
	wantEvents := len(steps) + 1 + 3 + 2 + 3 // steps, expiry, after-revoke, emergency invokes, emergency reads
	for i, n := range w.nodes {
		log, err := records.AuditLog(n.App().Latest(), w.patient.ID, w.patientK)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != wantEvents {
			t.Fatalf("node%d: %d events in the patient's log, want %d", i, len(log), wantEvents)
		}
		var denied, emergency, fromNode1 int
		for j, e := range log {
			if j > 0 && e.Time.After(log[j-1].Time) && e.Height > log[j-1].Height {
				t.Errorf("log not newest first at %d", j)
			}
			if e.Decision == "deny" {
				denied++
			}
			if e.Emergency {
				emergency++
			}
			if e.Node == "node1" {
				fromNode1++
			}
		}
		if denied != 9 || emergency < 4 || fromNode1 == 0 {
			t.Errorf("node%d log: %d denied (want 9), %d emergency (want >= 4), %d from node1", i, denied, emergency, fromNode1)
		}
	}
	_ = labRec
	_ = mhRec

	// Proofs of a record version, a consent and its revocation, and an access
	// event, served by node1 and checked offline.
	log, err := records.AuditLog(w.nodes[1].App().Latest(), w.patient.ID, w.patientK)
	if err != nil {
		t.Fatal(err)
	}
	vj, err := w.nodes[1].Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := proof.ParseValidators(vj)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct{ kind, key string }{
		{tlog.KindRecord, ledger.RecordLogKey("rec-glucose", 2)}, {tlog.KindConsent, grantB},
		{tlog.KindConsent, grantB + "/revoked"}, {tlog.KindAudit, log[0].ID},
	} {
		file, err := proof.Encode(w.prove(1, e.kind, e.key))
		if err != nil {
			t.Fatal(err)
		}
		var got proof.Bundle
		if err := proof.Decode(file, &got); err != nil {
			t.Fatal(err)
		}
		if err := proof.Verify(&got, trusted); err != nil {
			t.Fatalf("%s %s: %v", e.kind, e.key, err)
		}
		if bytes.Contains(file, []byte("glucose-v")) {
			t.Fatalf("proof of %s %s contains plaintext", e.kind, e.key)
		}
	}
}

// TestNoPlaintextAtRest writes records with unique markers, stops the nodes
// and scans every file of both homes for the markers and their base64 forms;
// node0 keeps a blind search index (HOME/search-index) that has a Patient
// with markers in its name and identifier, and finds it by them.
func TestNoPlaintextAtRest(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	markers := []string{"MARKER-glucose-7f3a9c", "MARKER-depression-1b2e8d", "MARKER-hiv-5c6d0a"}
	for i, m := range markers {
		if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: []string{"lab", "mental-health", "general"}[i], RecordID: fmt.Sprintf("rec-m%d", i), Resource: observation(m)}); err != nil {
			t.Fatal(err)
		}
	}
	// The blind search index of node0 (HOME/search-index) gets a Patient
	// whose name and identifier are markers, and finds it by them.
	idx, err := store.OpenIndex(filepath.Join(string(w.homes[0]), "search-index"))
	if err != nil {
		t.Fatal(err)
	}
	indexed, err := records.New(w.nodes[0], w.svc[0].Keys(), records.Options{Node: "node0", Index: idx})
	if err != nil {
		t.Fatal(err)
	}
	nameMarkers := []string{"QZXFAMILY-3b9e1c", "QZXGIVEN-5d8e2f", "QZXMRN-77d2a0"}
	patientRes := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q,"given":[%q]}],"identifier":[{"system":"urn:mrn","value":%q}]}`,
		nameMarkers[0], nameMarkers[1], nameMarkers[2])
	if _, err := indexed.Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "demographics", RecordID: "rec-pm", Resource: []byte(patientRes)}); err != nil {
		t.Fatal(err)
	}
	for param, value := range map[string]string{"identifier": "urn:mrn|" + nameMarkers[2], "family": nameMarkers[0]} {
		cond, _ := records.SearchTerms("Patient", param, value)
		found, err := indexed.SearchIndex(ctx, records.IndexQuery{Requester: "hosp-a/dr-a", Conditions: []records.IndexCondition{cond}})
		if err != nil || len(found) != 1 || found[0].RecordID != "rec-pm" {
			t.Fatalf("index search by %s: %d found, %v", param, len(found), err)
		}
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	// Reads and access events, too.
	for i := range markers {
		if _, err := w.svc[0].Read(ctx, w.patient.ID, fmt.Sprintf("rec-m%d", i), 0, consent.PurposeTreatment); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.svc[0].Flush(ctx, w.signers["hosp-a/node0"]); err != nil {
		t.Fatal(err)
	}
	markers = append(markers, nameMarkers...)
	// Name prefixes are what a plaintext index would keep of a name.
	markers = append(markers, strings.ToLower(nameMarkers[0][:records.MaxIndexPrefix]), strings.ToLower(nameMarkers[1][:records.MaxIndexPrefix]))
	noMarkersOnDisk(t, w, markers)
}

// noMarkersOnDisk stops the nodes and fails if any file under their homes
// holds a marker, in plain or base64 at any alignment.
func noMarkersOnDisk(t *testing.T, w *world, markers []string) {
	t.Helper()
	for _, n := range w.nodes {
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	var needles [][]byte
	for _, m := range markers {
		needles = append(needles, []byte(m))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding} {
			// Any alignment of the marker inside a base64 stream.
			for off := range 3 {
				s := enc.EncodeToString(append(make([]byte, off), m...))
				needles = append(needles, []byte(s[4*((off+2)/3):len(s)-4]))
			}
		}
	}
	files := 0
	for _, h := range w.homes {
		err := filepath.WalkDir(string(h), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			for _, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s contains %q", path, n)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 10 {
		t.Fatalf("scanned only %d files", files)
	}
	t.Logf("scanned %d files under %d homes for %d needles", files, len(w.homes), len(needles))
}

func TestInvalidResourceIsRejectedAndWritesNothing(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, _ := w.nodes[0].App().LastCommit()
	_, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-bad", Resource: []byte(`{"resourceType":"Observation","code":{"text":"x"}}`)})
	if err == nil || !strings.Contains(err.Error(), "Observation.status") {
		t.Fatalf("missing status: %v", err)
	}
	after, _ := w.nodes[0].App().LastCommit()
	if !bytes.Equal(before.AppHash, after.AppHash) {
		t.Fatal("a rejected resource changed state")
	}
	if _, err := w.nodes[0].App().Latest().Record("rec-bad"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("record exists: %v", err)
	}
}

// TestDelegateManagesConsent: a patient names a carer, who grants on the
// patient's behalf; a stranger cannot; a removed delegate no longer can.
func TestDelegateManagesConsent(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	person := func(id string) records.Signer {
		k := newKey(t)
		ek, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		w.signers[id] = records.Signer{ID: id, Key: k}
		w.svc[0].Keys().Add(id, ek)
		w.submit("hosp-a/clerk", tx.TypeRegister, &tx.Register{ID: id, Kind: carechain.KindPatient, PublicKey: k.Public().(ed25519.PublicKey), EncryptionKey: ek.Public().Bytes()})
		return w.signers[id]
	}
	carer, stranger := person("patient/carer"), person("patient/stranger")
	if _, err := w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-d", Resource: observation("delegated")}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Delegate(ctx, w.patient, carer.ID); err != nil {
		t.Fatal(err)
	}
	if ds, err := w.nodes[0].App().Latest().Delegates(w.patient.ID); err != nil || !slices.Equal(ds, []string{carer.ID}) {
		t.Fatalf("delegates after naming the carer: %v, %v", ds, err)
	}
	g := consent.Grant{Patient: w.patient.ID, Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60}
	grantID, err := w.svc[0].Grant(ctx, carer, g)
	if err != nil {
		t.Fatalf("delegate grant: %v", err)
	}
	last, _ := w.nodes[0].App().Height()
	w.waitHeight(1, last)
	if _, err := w.svc[1].Read(ctx, "hosp-b/dr-b", "rec-d", 0, consent.PurposeTreatment); err != nil {
		t.Fatalf("read under the delegate's grant: %v", err)
	}
	g.Grantee = consent.Grantee{Principal: "hosp-b/dr-u"}
	if _, err := w.svc[0].Grant(ctx, stranger, g); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "delegate") {
		t.Fatalf("stranger's grant: %v", err)
	}
	if err := w.svc[0].RemoveDelegate(ctx, w.patient, carer.ID); err != nil {
		t.Fatal(err)
	}
	if ep, _ := w.nodes[0].App().Latest().Epoch(w.patient.ID, "lab"); slices.Contains(ep.Readers, carer.ID) {
		t.Fatalf("removed delegate still holds the lab key: %+v", ep)
	}
	if ds, err := w.nodes[0].App().Latest().Delegates(w.patient.ID); err != nil || len(ds) != 0 {
		t.Fatalf("delegates after removing the carer: %v, %v", ds, err)
	}
	if err := w.svc[0].Revoke(ctx, carer, w.patient.ID, grantID); !errors.Is(err, records.ErrRejected) {
		t.Fatalf("removed delegate's revoke: %v", err)
	}
	if err := w.svc[0].Revoke(ctx, w.patient, w.patient.ID, grantID); err != nil {
		t.Fatalf("patient's revoke: %v", err)
	}
}

// TestConcurrentWritesBySameSigner: parallel requests of one principal get
// ordered nonces instead of rejecting each other.
func TestConcurrentWritesBySameSigner(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.svc[0].Put(ctx, w.signers["hosp-a/dr-a"], records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: fmt.Sprintf("rec-c%d", i), Resource: observation(fmt.Sprint(i))})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if heads, _ := w.nodes[0].App().Latest().PatientRecords(w.patient.ID); len(heads) != len(errs) {
		t.Fatalf("%d records, want %d", len(heads), len(errs))
	}
}
