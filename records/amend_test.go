package records_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

func xray(conclusion string) []byte {
	return []byte(`{"resourceType":"DiagnosticReport","status":"final",
	 "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"RAD"}]}],
	 "code":{"coding":[{"system":"http://loinc.org","code":"36643-5","display":"XR Chest 2 Views"}]},
	 "subject":{"reference":"Patient/p1"},"conclusion":"` + conclusion + `"}`)
}

// TestXRayCorrectionNeedsFourSignatures: a radiologist's correction of an
// X-ray report commits only when the hospital authority, the head of
// radiology, the specialist and the patient have all approved, in any order,
// through either node; the committed version is locked and provable; then
// the patient shares it for a second opinion that expires.
func TestXRayCorrectionNeedsFourSignatures(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	for _, s := range []struct {
		id   string
		role carechain.Role
	}{
		{"hosp-a/rad", carechain.RoleRadiologist}, {"hosp-a/head", carechain.RoleHeadOfRadiology},
		{"hosp-a/authority", carechain.RoleHospitalAuthority}, {"hosp-a/spec", carechain.RoleSpecialist},
		{"hosp-a/spec2", carechain.RoleSpecialist},
	} {
		k := newKey(t)
		w.signers[s.id] = records.Signer{ID: s.id, Key: k}
		w.submit("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: s.id, Kind: carechain.KindPractitioner, Roles: []carechain.Role{s.role}, PublicKey: k.Public().(ed25519.PublicKey)})
	}
	rad := w.signers["hosp-a/rad"]
	if _, err := w.svc[0].Put(ctx, rad, records.PutItem{Patient: w.patient.ID, Category: "imaging", RecordID: "xr-1", Resource: xray("No acute findings.")}); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].SetPolicy(ctx, w.signers["hosp-a/admin"], tx.AmendPolicy{Org: "hosp-a", Category: "imaging", ResourceType: "DiagnosticReport",
		Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{{Role: carechain.RoleHospitalAuthority, Org: "hosp-a"}, {Role: carechain.RoleHeadOfRadiology, Org: "hosp-a"},
			{Role: carechain.RoleSpecialist, Org: "hosp-a"}, {Patient: true}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc[0].Put(ctx, rad, records.PutItem{Patient: w.patient.ID, Category: "imaging", RecordID: "xr-1", Resource: xray("edited without approval")}); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "need approval") {
		t.Fatalf("direct edit under a policy: %v", err)
	}
	id, err := w.svc[0].Propose(ctx, rad, "xr-1", xray("Small left apical pneumothorax."), "missed finding", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc[0].Propose(ctx, rad, "xr-1", xray("another"), "second", time.Hour); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "open proposal") {
		t.Fatalf("second open proposal: %v", err)
	}
	if rv, err := w.svc[0].ReadProposal(ctx, "hosp-a/head", id); err != nil || !strings.Contains(string(rv.Resource), "pneumothorax") || rv.Reason != "missed finding" {
		t.Fatalf("review by the head of radiology: %+v %v", rv, err)
	}
	var denied *records.DeniedError
	last, _ := w.nodes[0].App().Height()
	w.waitHeight(1, last)
	_, outsider := w.svc[1].ReadProposal(ctx, "hosp-b/dr-b", id)
	_, absent := w.svc[1].ReadProposal(ctx, "hosp-b/dr-b", "am-000000000000")
	if !errors.Is(outsider, records.ErrNotVisible) || outsider.Error() != absent.Error() {
		t.Fatalf("review by an outsider: %v; want what a missing proposal gets: %v", outsider, absent)
	}
	// Rejections of bad approvals.
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/dr-a"], id); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "no open term") {
		t.Fatalf("approval by a physician: %v", err)
	}
	w.submit("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/spec2"})
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/spec2"], id); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("approval with a revoked key: %v", err)
	}

	signers := []string{"hosp-a/authority", "hosp-a/head", "hosp-a/spec", w.patient.ID}
	rand.Shuffle(len(signers), func(i, j int) { signers[i], signers[j] = signers[j], signers[i] })
	for i, sg := range signers {
		node := i % 2
		h0, _ := w.nodes[0].App().Height()
		h1, _ := w.nodes[1].App().Height()
		w.waitHeight(node, max(h0, h1))
		if err := w.svc[node].Approve(ctx, w.signers[sg], id); err != nil {
			t.Fatalf("approval %d by %s through node%d: %v", i, sg, node, err)
		}
		if i == 0 {
			if err := w.svc[node].Approve(ctx, w.signers[sg], id); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "already approved") {
				t.Fatalf("duplicate approval: %v", err)
			}
		}
		head, _ := w.nodes[node].App().Latest().Record("xr-1")
		if i < len(signers)-1 && head.Latest != 1 {
			t.Fatalf("committed after %d of 4 signatures", i+1)
		}
	}
	h0, _ := w.nodes[0].App().Height()
	h1, _ := w.nodes[1].App().Height()
	w.waitHeight(0, h1)
	w.waitHeight(1, h0)
	var hashes [][]byte
	for i, n := range w.nodes {
		v, err := n.App().Latest().RecordVersion("xr-1", 2)
		if err != nil || v.Proposal != id || v.Author != "hosp-a/rad" {
			t.Fatalf("node%d version 2: %+v %v", i, v, err)
		}
		hashes = append(hashes, v.CiphertextHash)
		if head, _ := n.App().Latest().Record("xr-1"); !head.Locked {
			t.Fatalf("node%d: committed version not locked", i)
		}
	}
	if string(hashes[0]) != string(hashes[1]) {
		t.Fatal("nodes hold different committed versions")
	}
	p, _ := w.nodes[1].App().Latest().Proposal(id)
	if p.Status != ledger.ProposalCommitted || len(p.Approvals) != 4 {
		t.Fatalf("proposal %+v", p)
	}
	rec, err := w.svc[0].Read(ctx, "hosp-a/head", "xr-1", 0, consent.PurposeTreatment)
	if err != nil || !strings.Contains(string(rec.Resource), "pneumothorax") {
		t.Fatalf("read committed version: %v", err)
	}
	if _, err := w.svc[0].Put(ctx, rad, records.PutItem{Patient: w.patient.ID, Category: "imaging", RecordID: "xr-1", Resource: xray("quiet edit")}); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("direct edit of a locked version: %v", err)
	}
	// The committed version is provable.
	vj, _ := w.nodes[1].Validators(ctx)
	trusted, _ := proof.ParseValidators(vj)
	if err := proof.Verify(w.prove(1, tlog.KindRecord, ledger.RecordLogKey("xr-1", 2)), trusted); err != nil {
		t.Fatal(err)
	}

	// A rejection closes a proposal; later approvals are refused.
	id2, err := w.svc[0].Propose(ctx, rad, "xr-1", xray("third try"), "wording", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Reject(ctx, w.signers["hosp-a/head"], id2, "not a finding"); err != nil {
		t.Fatal(err)
	}
	if rv, err := w.svc[0].ReadProposal(ctx, rad.ID, id2); err != nil || rv.CloseReason != "not a finding" || rv.Proposal.Status != ledger.ProposalRejected {
		t.Fatalf("rejected proposal: %+v %v", rv, err)
	}
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/authority"], id2); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("approval after close: %v", err)
	}
	// An expired proposal takes no approvals. The ledger judges expiry at
	// block time: wait for a committed block past the proposal's expiry.
	id3, err := w.svc[0].Propose(ctx, rad, "xr-1", xray("late"), "late", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p3, err := w.nodes[0].App().Latest().Proposal(id3)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.nodes[0].WaitBlockTime(ctx, time.Unix(p3.Expires, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/authority"], id3); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approval after expiry: %v", err)
	}

	// Second opinion: read-only, one record, time-limited, another hospital.
	now := time.Now().Unix()
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, RecordID: "xr-1", Categories: []string{"imaging"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeSecondOpinion}, NotBefore: now - 60, NotAfter: now + 3600}); err != nil {
		t.Fatal(err)
	}
	last, _ = w.nodes[0].App().Height()
	w.waitHeight(1, last)
	if rec, err := w.svc[1].Read(ctx, "hosp-b/dr-b", "xr-1", 0, consent.PurposeSecondOpinion); err != nil || !strings.Contains(string(rec.Resource), "pneumothorax") {
		t.Fatalf("second opinion before expiry: %v", err)
	}
	if _, err := w.svc[1].Read(ctx, "hosp-b/dr-b", "xr-1", 0, consent.PurposeTreatment); !errors.As(err, &denied) {
		t.Fatalf("second-opinion grant used for treatment: %v", err)
	}
	w.clock[1].advance(2 * time.Hour)
	if _, err := w.svc[1].Read(ctx, "hosp-b/dr-b", "xr-1", 0, consent.PurposeSecondOpinion); !errors.As(err, &denied) || !strings.Contains(denied.Reason, "expired") {
		t.Fatalf("second opinion after expiry: %v", err)
	}
	w.clock[1].advance(-2 * time.Hour)
	if err := w.svc[1].Flush(ctx, w.signers["hosp-b/node1"]); err != nil {
		t.Fatal(err)
	}
	last, _ = w.nodes[1].App().Height()
	w.waitHeight(0, last)
	log, err := records.AuditLog(w.nodes[0].App().Latest(), w.patient.ID, w.patientK)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range log {
		found = found || (e.Requester == "hosp-b/dr-b" && e.Purpose == string(consent.PurposeSecondOpinion) && e.Decision == "allow")
	}
	if !found {
		t.Fatal("the second-opinion read is not in the patient's log")
	}
}

// TestApprovalTermRequiresACredential: an approval policy's term can
// require a credential of the role holder: a specialist without a valid
// radiology specialty is refused, one with it approves and commits, and a
// revoked credential no longer counts.
func TestApprovalTermRequiresACredential(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, s := range []struct {
		id   string
		role carechain.Role
	}{{"hosp-a/rad", carechain.RoleRadiologist}, {"hosp-a/spec", carechain.RoleSpecialist}, {"hosp-a/spec2", carechain.RoleSpecialist}} {
		k := newKey(t)
		w.signers[s.id] = records.Signer{ID: s.id, Key: k}
		w.submit("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: s.id, Kind: carechain.KindPractitioner, Roles: []carechain.Role{s.role}, PublicKey: k.Public().(ed25519.PublicKey)})
	}
	radiology := func(id, to string) *tx.CredentialIssue {
		return &tx.CredentialIssue{ID: id, Practitioner: to, Kind: carechain.CredentialSpecialty, Value: "radiology", ValidFrom: 1}
	}
	w.submit("hosp-a/admin", tx.TypeCredentialIssue, radiology("rad-spec", "hosp-a/spec"))
	w.submit("hosp-a/admin", tx.TypeCredentialIssue, radiology("rad-spec2", "hosp-a/spec2"))
	w.submit("hosp-a/admin", tx.TypeCredentialRevoke, &tx.CredentialRevoke{ID: "rad-spec2", Reason: "board certification lapsed"})
	rad := w.signers["hosp-a/rad"]
	if _, err := w.svc[0].Put(ctx, rad, records.PutItem{Patient: w.patient.ID, Category: "imaging", RecordID: "xr-1", Resource: xray("No acute findings.")}); err != nil {
		t.Fatal(err)
	}
	term, err := tx.ParseTerm("specialist@hosp-a+specialty=radiology")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].SetPolicy(ctx, w.signers["hosp-a/admin"], tx.AmendPolicy{Org: "hosp-a", Category: "imaging",
		Rule: tx.Rule{Kind: tx.AnyOf, Terms: []tx.Term{term}}}); err != nil {
		t.Fatal(err)
	}
	id, err := w.svc[0].Propose(ctx, rad, "xr-1", xray("Small left apical pneumothorax."), "missed finding", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/spec2"], id); !errors.Is(err, records.ErrRejected) || !strings.Contains(err.Error(), "no open term") {
		t.Fatalf("approval by a specialist whose credential was revoked: %v", err)
	}
	if err := w.svc[0].Approve(ctx, w.signers["hosp-a/spec"], id); err != nil {
		t.Fatalf("approval by the credentialed specialist: %v", err)
	}
	if p, _ := w.nodes[0].App().Latest().Proposal(id); p.Status != ledger.ProposalCommitted || p.Approvals[0].Term != "specialist@hosp-a+specialty=radiology" {
		t.Fatalf("proposal %+v", p)
	}
	if _, err := tx.ParseTerm("specialist@hosp-a+hobby=golf"); err == nil {
		t.Fatal("a term with an unknown credential kind parsed")
	}
}
