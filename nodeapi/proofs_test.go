package nodeapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// proofWorld is a node serving /v1 with records and proofs: hospitals
// hosp-a and hosp-b; patient/p, registered by hosp-a; hosp-a/dr-a, who wrote
// record rec-1 (lab) of patient/p; hosp-b/dr-b, whom the patient granted
// reading lab records (grant ID grant); hosp-b/dr-x, with no access; and
// hosp-b/audit, an auditor. Everything is under a signed checkpoint.
type proofWorld struct {
	n        *node.Node
	nodeID   string // what signed requests name
	srv      *httptest.Server
	svc      *records.Service
	keys     map[string]ed25519.PrivateKey
	grant    string
	dxHeight int64 // where hosp-b/dr-x was registered
	pHeight  int64 // where patient/p was registered
	// patientEnc is patient/p's encryption key.
	patientEnc *seal.PrivateKey
}

func newProofWorld(t testing.TB) *proofWorld {
	t.Helper()
	w := &proofWorld{keys: map[string]ed25519.PrivateKey{}}
	kr := &records.Keyring{}
	g := &ledger.Genesis{}
	for i, o := range []string{"hosp-a", "hosp-b"} {
		ek, _ := seal.GenerateKey()
		kr.Add(o, ek)
		w.keys[o+"/admin"] = seedKey(byte(20 + i))
		g.Organizations = append(g.Organizations, ledger.GenesisOrg{
			Organization: carechain.Organization{ID: o, Name: o, Type: carechain.OrgHospital, EncryptionKey: ek.Public().Bytes()},
			Admins:       []ledger.GenesisAdmin{{ID: o + "/admin", PublicKey: w.keys[o+"/admin"].Public().(ed25519.PublicKey)}},
		})
	}
	w.n = startNode(t, g)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pek, _ := seal.GenerateKey()
	kr.Add("patient/p", pek)
	w.patientEnc = pek
	practitioner := func(id string, r carechain.Role) tx.Register {
		return tx.Register{ID: id, Kind: carechain.KindPractitioner, Roles: []carechain.Role{r}}
	}
	for i, reg := range []tx.Register{
		practitioner("hosp-a/dr-a", carechain.RolePhysician), practitioner("hosp-b/dr-b", carechain.RolePhysician),
		practitioner("hosp-b/dr-x", carechain.RolePhysician), practitioner("hosp-b/audit", carechain.RoleAuditor),
		{ID: "patient/p", Kind: carechain.KindPatient, EncryptionKey: pek.Public().Bytes()},
	} {
		signer := carechain.OrgOf(reg.ID) + "/admin"
		if reg.Kind == carechain.KindPatient {
			signer = "hosp-a/admin"
		}
		w.keys[reg.ID] = seedKey(byte(30 + i))
		reg.PublicKey = w.keys[reg.ID].Public().(ed25519.PublicKey)
		nonce, _ := w.n.App().Latest().NextNonce(signer)
		raw, _ := tx.Sign(w.keys[signer], testChain, signer, nonce, tx.TypeRegister, &reg)
		out, err := w.n.Submit(ctx, raw)
		if err != nil || !out.Accepted() {
			t.Fatalf("register %s: %+v %v", reg.ID, out, err)
		}
		switch reg.ID {
		case "hosp-b/dr-x":
			w.dxHeight = out.Height
		case "patient/p":
			w.pHeight = out.Height
		}
	}
	svc, err := records.New(w.n, kr, records.Options{Node: "api"})
	if err != nil {
		t.Fatal(err)
	}
	w.svc = svc
	w.nodeID = nodeIDOf(t, w.n)
	w.srv = httptest.NewServer(nodeapi.NewHandler(w.n, nodeapi.Options{Records: svc, Proofs: w.n, NodeID: w.nodeID}))
	t.Cleanup(w.srv.Close)
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},` +
		`"subject":{"reference":"Patient/p"},"valueQuantity":{"value":95,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`
	author := records.Signer{ID: "hosp-a/dr-a", Key: w.keys["hosp-a/dr-a"]}
	if _, err := svc.Put(ctx, author, records.PutItem{Patient: "patient/p", Category: "lab", RecordID: "rec-1", Resource: []byte(obs)}); err != nil {
		t.Fatal(err)
	}
	w.grant, err = svc.Grant(ctx, records.Signer{ID: "patient/p", Key: w.keys["patient/p"]}, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{"lab"}, Actions: []consent.Action{consent.ActionRead},
		Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	slot := []byte(`{"resourceType":"Slot","id":"slot-1","schedule":{"reference":"Schedule/s"},"status":"free","start":"2027-01-04T09:00:00Z","end":"2027-01-04T09:15:00Z"}`)
	if _, err := svc.PutOrgRecord(ctx, author, records.OrgPut{ResourceType: "Slot", ID: "slot-1", Resource: slot}); err != nil {
		t.Fatal(err)
	}
	w.waitCheckpoint(t, ctx, tlog.KindOrgRecord, ledger.OrgRecordLogKey("Slot", "slot-1", 1)) // the last entry written
	return w
}

// waitCheckpoint waits until the entry is under a signed checkpoint.
func (w *proofWorld) waitCheckpoint(t testing.TB, ctx context.Context, kind, key string) {
	t.Helper()
	for {
		h, _ := w.n.App().Height()
		_, err := w.n.Prove(ctx, kind, key)
		if err == nil {
			return
		}
		if !errors.Is(err, node.ErrNoCheckpoint) {
			t.Fatal(err)
		}
		if err := w.n.WaitHeight(ctx, h+1); err != nil {
			t.Fatalf("%s %s never under a signed checkpoint: %v", kind, key, err)
		}
	}
}

// get GETs path, signed as signer unless signer is "".
func (w *proofWorld) get(t *testing.T, path, signer string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	if signer != "" {
		nodeapi.SignRequest(req, signer, w.keys[signer], w.nodeID, time.Now())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestProofsGoOnlyToThoseWhoMaySeeTheEntry: a proof of a record version goes
// to its patient, to whoever may read the record and to an auditor; one of a
// consent to the patient and an auditor. Everyone else, and an unsigned
// request, gets exactly what a request for an absent entry gets. Identity
// proofs stay public; an organization record's go to any member. Whatever is served verifies offline.
func TestProofsGoOnlyToThoseWhoMaySeeTheEntry(t *testing.T) {
	w := newProofWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vals, err := w.n.Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := proof.ParseValidators(vals)
	if err != nil {
		t.Fatal(err)
	}
	absentStatus, absent := w.get(t, "/v1/proofs/record/rec-none", "")
	if absentStatus != http.StatusNotFound {
		t.Fatalf("absent record: HTTP %d %s", absentStatus, absent)
	}
	record, grant := "/v1/proofs/record/rec-1", "/v1/proofs/consent/"+w.grant
	cases := []struct {
		path, signer string
		served       bool
	}{
		{record, "", false},
		{record, "hosp-b/dr-x", false},
		{record + "?version=1", "hosp-b/dr-x", false},
		{record + "?purpose=billing", "hosp-b/dr-b", false}, // the grant covers treatment only
		{"/v1/proofs/record/rec-none", "patient/p", false},
		{record + "?version=2", "patient/p", false},
		{record, "patient/p", true},
		{record, "hosp-b/dr-b", true},
		{record, "hosp-a/dr-a", true},
		{record + "?version=1", "hosp-b/audit", true},
		{grant, "", false},
		{grant, "hosp-b/dr-x", false},
		{grant, "hosp-b/dr-b", false},
		{grant, "patient/p", true},
		{grant, "hosp-b/audit", true},
		{fmt.Sprintf("/v1/proofs/identity/hosp-b/dr-x@%d", w.dxHeight), "", true},
		{fmt.Sprintf("/v1/proofs/identity/patient/p@%d", w.pHeight), "", false}, // patients are not public
		{fmt.Sprintf("/v1/proofs/identity/patient/p@%d", w.pHeight), "hosp-b/dr-x", false},
		{fmt.Sprintf("/v1/proofs/identity/patient/p@%d", w.pHeight), "patient/p", true},
		{fmt.Sprintf("/v1/proofs/identity/patient/p@%d", w.pHeight), "hosp-b/audit", true},
		{"/v1/proofs/orgrecord/Slot/slot-1/1", "", false}, // organization records go to members
		{"/v1/proofs/orgrecord/Slot/slot-1/1", "hosp-b/dr-x", true},
		{"/v1/proofs/orgrecord/Slot/slot-1/2", "hosp-b/dr-x", false},
	}
	for _, c := range cases {
		pending := w.svc.Pending()
		status, body := w.get(t, c.path, c.signer)
		if !c.served {
			if status != absentStatus || !bytes.Equal(body, absent) {
				t.Errorf("%s as %q: HTTP %d %.80s; want what an absent entry gets: HTTP %d %.80s", c.path, c.signer, status, body, absentStatus, absent)
			}
			continue
		}
		var b proof.Bundle
		if status != http.StatusOK {
			t.Errorf("%s as %q: HTTP %d %.200s, want the proof", c.path, c.signer, status, body)
		} else if err := proof.Decode(body, &b); err != nil {
			t.Errorf("%s as %q: %v", c.path, c.signer, err)
		} else if err := proof.Verify(&b, trusted); err != nil {
			t.Errorf("%s as %q: the proof does not verify: %v", c.path, c.signer, err)
		}
		if c.signer == "hosp-b/audit" && w.svc.Pending() != pending+1 {
			t.Errorf("%s as the auditor: %d access events queued, want 1", c.path, w.svc.Pending()-pending)
		}
	}
}
