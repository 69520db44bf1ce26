package ledger

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// recordWorld is a harness with a patient (registered by hosp-a) and a
// physician at each hospital.
func recordWorld(t testing.TB) *harness {
	h := newHarness(t)
	h.block(
		h.register("hosp-a/admin", "hosp-a/dr-a", carechain.KindPractitioner, 10, carechain.RolePhysician),
		h.register("hosp-b/admin", "hosp-b/dr-b", carechain.KindPractitioner, 11, carechain.RolePhysician),
		h.register("hosp-a/admin", "patient/nokey", carechain.KindPatient, 13),
	)
	h.keys["patient/p"] = key(12)
	h.block(h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "patient/p", Kind: carechain.KindPatient, PublicKey: pub(12), EncryptionKey: encKey(t, 12).Public().Bytes()}))
	return h
}

// put builds a record.put; newEpoch wraps a fresh key to readers (nil: none).
func put(t testing.TB, id string, version uint64, patient, category string, epoch uint32, readers []string) *tx.RecordPut {
	ek, err := seal.NewEpochKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.Seal([]byte(`{"resourceType":"Observation"}`), seal.Binding{RecordID: id, Version: version, Patient: patient, Category: category, Epoch: epoch}, ek)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(s.Ciphertext)
	p := &tx.RecordPut{RecordID: id, Version: version, Patient: patient, Category: category, ResourceType: "Observation", Epoch: epoch,
		CiphertextHash: sum[:], Ciphertext: s.Ciphertext, WrappedKey: s.WrappedKey}
	if readers != nil {
		p.NewEpoch = &tx.NewEpoch{Category: category, Epoch: epoch}
		for _, r := range readers {
			p.NewEpoch.Wraps = append(p.NewEpoch.Wraps, tx.KeyWrap{Reader: r, Wrapped: []byte("opaque wrap for " + r)})
		}
	}
	return p
}

func TestRecordRejections(t *testing.T) {
	both := []string{"hosp-a", "patient/p"}
	cases := []struct {
		name   string
		signer string
		typ    tx.Type
		body   func(t *testing.T) any
		want   Code
		reason string
	}{
		{"other hospital writes without a grant", "hosp-b/dr-b", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-b", "patient/p"})
		}, CodeDenied, "may not write"},
		{"wraps miss the patient", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-a"})
		}, CodeStaleEpoch, "wrapped to exactly"},
		{"wraps miss the author's organization", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, []string{"patient/p"})
		}, CodeStaleEpoch, "wrapped to exactly"},
		{"no epoch yet", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, nil)
		}, CodeStaleEpoch, "epoch 0"},
		{"first version must be 1", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 2, "patient/p", "lab", 1, both)
		}, CodeInvalid, "first version is 1"},
		{"unknown category", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "astrology", 1, both)
		}, CodeInvalid, "unknown category"},
		{"patient without encryption key", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/nokey", "lab", 1, []string{"hosp-a", "patient/nokey"})
		}, CodeInvalid, "no encryption key"},
		{"not a patient", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/ghost", "lab", 1, both)
		}, CodeInvalid, "not a registered patient"},
		{"ciphertext hash mismatch", "hosp-a/dr-a", tx.TypeRecordPut, func(t *testing.T) any {
			p := put(t, "r1", 1, "patient/p", "lab", 1, both)
			p.Ciphertext[0] ^= 1
			return p
		}, CodeInvalid, "hash"},
		{"patients write no clinical records", "patient/p", tx.TypeRecordPut, func(t *testing.T) any {
			return put(t, "r1", 1, "patient/p", "lab", 1, both)
		}, CodeUnauthorized, "patient-reported category only"},
		{"only the patient grants", "hosp-a/dr-a", tx.TypeConsentGrant, func(t *testing.T) any {
			return &tx.ConsentGrant{Grant: consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-b"}, Categories: []string{"lab"},
				Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}
		}, CodeUnauthorized, "or a delegate they named"},
		{"bad CEL condition", "patient/p", tx.TypeConsentGrant, func(t *testing.T) any {
			return &tx.ConsentGrant{Grant: consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-b"}, Categories: []string{"lab"},
				Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, Condition: `request.purpose ==`}}
		}, CodeInvalid, "Syntax error"},
		{"revoke of an unknown grant", "patient/p", tx.TypeConsentRevoke, func(t *testing.T) any {
			return &tx.ConsentRevoke{GrantID: "g-000000000000"}
		}, CodeInvalid, "no grant"},
		{"emergency without a rule", "hosp-b/dr-b", tx.TypeEmergencyInvoke, func(t *testing.T) any {
			return &tx.EmergencyInvoke{Patient: "patient/p", SealedReason: []byte("sealed")}
		}, CodeDenied, "no emergency rule"},
		{"patients do not anchor audit events", "patient/p", tx.TypeAuditAnchor, func(t *testing.T) any {
			return &tx.AuditAnchor{Node: "n", Events: []tx.SealedEvent{{ID: "e1", Patient: "patient/p", Time: 1, Sealed: []byte{1}}}, Sig: make([]byte, 64)}
		}, CodeUnauthorized, "nodes"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := recordWorld(t)
				h.judge(h.sign(c.signer, c.typ, c.body(t)), stage, c.want, c.reason)
			})
		}
	}
}

func TestRecordVersionsAndEpochs(t *testing.T) {
	h := recordWorld(t)
	both := []string{"hosp-a", "patient/p"}
	if got := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, both))); got[0] != CodeOK {
		t.Fatalf("v1: %v", got)
	}
	// Same epoch, next version: no new wraps needed.
	if got := h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 1, nil))); got[0] != CodeOK {
		t.Fatalf("v2: %v", got)
	}
	if code, log := h.blockResp(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 1, nil))); code != CodeStaleVersion || !strings.Contains(log, "next version is 3") {
		t.Fatalf("stale version: %v %s", code, log)
	}
	vs, err := h.at(0).RecordVersions("r1")
	if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[1].AuthorOrg != "hosp-a" {
		t.Fatalf("versions %+v %v", vs, err)
	}
	ep, err := h.at(0).Epoch("patient/p", "lab")
	if err != nil || ep.Epoch != 1 || strings.Join(ep.Readers, ",") != "hosp-a,patient/p" {
		t.Fatalf("epoch %+v %v", ep, err)
	}
}

func TestAmendProposalRejectsStaleBase(t *testing.T) {
	h := recordWorld(t)
	both := []string{"hosp-a", "patient/p"}
	h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, both)))
	h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 1, nil)))
	h.block(h.sign("hosp-a/admin", tx.TypeAmendPolicy, &tx.AmendPolicy{Org: "hosp-a", Category: "lab",
		Rule: tx.Rule{Kind: tx.AnyOf, Terms: []tx.Term{{Patient: true}}}}))
	propose := func(base uint64) []byte {
		return h.sign("hosp-a/dr-a", tx.TypeAmendPropose, &tx.AmendPropose{Put: *put(t, "r1", base+1, "patient/p", "lab", 1, nil),
			BaseVersion: base, SealedReason: []byte("sealed"), Expires: blockTime(1000).Unix()})
	}
	if code, log := h.blockResp(propose(1)); code != CodeConflict || !strings.Contains(log, "stale base") {
		t.Fatalf("stale base: %v %s", code, log)
	}
	if code, log := h.blockResp(propose(2)); code != CodeOK {
		t.Fatalf("current base: %v %s", code, log)
	}
	// Direct edits are now refused: the policy covers the record.
	if code, log := h.blockResp(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 3, "patient/p", "lab", 1, nil))); code != CodeUnauthorized || !strings.Contains(log, "need approval") {
		t.Fatalf("direct edit: %v %s", code, log)
	}
}

// TestPatientOfStateKey: the keys of consent and access-log entries name
// their patient, which decides who may fetch their proofs; other keys name
// none.
func TestPatientOfStateKey(t *testing.T) {
	for key, want := range map[string]string{
		grantKey("patient/p", "g-1"):              "patient/p",
		grantKey("patient/p", "g-1") + "/revoked": "patient/p",
		delegateKey("patient/p", "patient/q"):     "patient/p",
		emergencyKey("patient/p"):                 "patient/p",
		auditKey("patient/p", 7, "node-1-2"):      "patient/p",
		principalKey("hosp/dr-a"):                 "",
		versionKey("rec-1", 1):                    "",
	} {
		if got := patientOfStateKey(key); got != want {
			t.Errorf("patientOfStateKey(%q) = %q, want %q", key, got, want)
		}
	}
}
