package ledger

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

const reported = carechain.CategoryPatientReported

// patientWorld is roleWorld with a second patient, patient/q, with an
// encryption key.
func patientWorld(t *testing.T) *harness {
	h := roleWorld(t)
	h.keys["patient/q"] = key(14)
	reg := &tx.Register{ID: "patient/q", Kind: carechain.KindPatient, PublicKey: pub(14), EncryptionKey: encKey(t, 14).Public().Bytes()}
	if codes := h.block(h.sign("hosp-a/admin", tx.TypeRegister, reg)); codes[0] != CodeOK {
		t.Fatalf("register patient/q: %v", codes)
	}
	return h
}

// TestPatientWritesOwnRecords: a patient writes, updates and deletes a
// record of their own in patient-reported; the ledger records them as its
// author, for no organization, and no organization joins the category's
// readers by it.
func TestPatientWritesOwnRecords(t *testing.T) {
	h := patientWorld(t)
	for _, p := range []*tx.RecordPut{
		put(t, "r1", 1, "patient/p", reported, 1, []string{"patient/p"}),
		put(t, "r1", 2, "patient/p", reported, 1, nil),
		func() *tx.RecordPut { p := put(t, "r1", 3, "patient/p", reported, 1, nil); p.Deleted = true; return p }(),
	} {
		if code, log := h.blockResp(h.sign("patient/p", tx.TypeRecordPut, p)); code != CodeOK {
			t.Fatalf("version %d: %v %s", p.Version, code, log)
		}
	}
	v := h.at(0)
	head, err := v.Record("r1")
	if err != nil || head.Owner != "patient/p" || !head.PatientAuthored() || !head.Deleted {
		t.Fatalf("head %+v, %v: want owned by patient/p, patient-authored, deleted", head, err)
	}
	vs, err := v.RecordVersions("r1")
	if err != nil || len(vs) != 3 {
		t.Fatalf("versions %+v, %v", vs, err)
	}
	for _, rv := range vs {
		if rv.Author != "patient/p" || rv.AuthorOrg != "" || !rv.PatientAuthored() {
			t.Errorf("version %d: author %q of %q, patient-authored %v; want patient/p of no organization", rv.Version, rv.Author, rv.AuthorOrg, rv.PatientAuthored())
		}
	}
	if ep, err := v.Epoch("patient/p", reported); err != nil || !slices.Equal(ep.Readers, []string{"patient/p"}) {
		t.Fatalf("epoch %+v, %v: want read by the patient alone", ep, err)
	}
	// A clinician's version is not patient-authored.
	if code, log := h.blockResp(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "c1", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"}))); code != CodeOK {
		t.Fatalf("clinician's write: %v %s", code, log)
	}
	if rv, err := h.at(0).RecordVersion("c1", 0); err != nil || rv.PatientAuthored() {
		t.Fatalf("clinician's version %+v, %v: marked patient-authored", rv, err)
	}
}

// TestPatientReportedRejections: only a patient writes patient-reported
// records, of themselves, and a patient writes nothing else; each refusal
// through CheckTx and FinalizeBlock, leaving state unchanged.
func TestPatientReportedRejections(t *testing.T) {
	clinicians := func(t *testing.T, h *harness) [][]byte {
		return [][]byte{h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"}))}
	}
	patients := func(t *testing.T, h *harness) [][]byte {
		return [][]byte{h.sign("patient/p", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", reported, 1, []string{"patient/p"}))}
	}
	cases := []struct {
		name   string
		setup  func(t *testing.T, h *harness) [][]byte // committed first, each accepted
		signer string
		body   func(t *testing.T) *tx.RecordPut
		want   Code
		reason string
	}{
		{"patient writes in a clinical category", nil, "patient/p", func(t *testing.T) *tx.RecordPut {
			return put(t, "r2", 1, "patient/p", "vital-signs", 1, []string{"hosp-a", "patient/p"})
		}, CodeUnauthorized, "patient-reported category only"},
		{"patient writes for another patient", nil, "patient/p", func(t *testing.T) *tx.RecordPut {
			return put(t, "r2", 1, "patient/q", reported, 1, []string{"patient/q"})
		}, CodeUnauthorized, "records of themselves only"},
		{"patient without an encryption key", nil, "patient/nokey", func(t *testing.T) *tx.RecordPut {
			return put(t, "r2", 1, "patient/nokey", reported, 1, []string{"patient/nokey"})
		}, CodeInvalid, "no encryption key"},
		{"practitioner writes patient-reported", nil, "hosp-a/dr-a", func(t *testing.T) *tx.RecordPut {
			return put(t, "r2", 1, "patient/p", reported, 1, []string{"hosp-a", "patient/p"})
		}, CodeUnauthorized, "written by their patient only"},
		{"patient updates a clinician's record as patient-reported", clinicians, "patient/p", func(t *testing.T) *tx.RecordPut {
			return put(t, "r1", 2, "patient/p", reported, 1, []string{"patient/p"})
		}, CodeUnauthorized, "was not written by patient/p"},
		{"patient updates a clinician's record in its category", clinicians, "patient/p", func(t *testing.T) *tx.RecordPut {
			return put(t, "r1", 2, "patient/p", "lab", 1, nil)
		}, CodeUnauthorized, "patient-reported category only"},
		{"patient deletes a clinician's record", clinicians, "patient/p", func(t *testing.T) *tx.RecordPut {
			p := put(t, "r1", 2, "patient/p", reported, 1, []string{"patient/p"})
			p.Deleted = true
			return p
		}, CodeUnauthorized, "was not written by patient/p"},
		{"practitioner updates a patient's record", patients, "hosp-a/dr-a", func(t *testing.T) *tx.RecordPut {
			return put(t, "r1", 2, "patient/p", reported, 1, nil)
		}, CodeUnauthorized, "written by their patient only"},
		{"practitioner updates a patient's record as another category", patients, "hosp-a/dr-a", func(t *testing.T) *tx.RecordPut {
			return put(t, "r1", 2, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"})
		}, CodeUnauthorized, "was written by its patient"},
		{"another patient updates a patient's record", patients, "patient/q", func(t *testing.T) *tx.RecordPut {
			return put(t, "r1", 2, "patient/p", reported, 1, nil)
		}, CodeUnauthorized, "records of themselves only"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := patientWorld(t)
				if c.setup != nil {
					for i, code := range h.block(c.setup(t, h)...) {
						if code != CodeOK {
							t.Fatalf("setup tx %d: %v", i, code)
						}
					}
				}
				h.judge(h.sign(c.signer, tx.TypeRecordPut, c.body(t)), stage, c.want, c.reason)
			})
		}
	}
}

// TestChainWithoutPatientReportedMigrates starts from state as a carechain
// before patient-entered data wrote it: no patient-reported category,
// hosp-a on the default role policy of then (as genesis files held it),
// hosp-b on a policy of its own.
func TestChainWithoutPatientReportedMigrates(t *testing.T) {
	h := patientWorld(t)
	raw, err := os.ReadFile("testdata/role-policy-default-before-patient-reported.json")
	if err != nil {
		t.Fatal(err)
	}
	var old consent.RolePolicy
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	own := consent.RolePolicy{Rules: []consent.RoleRule{
		{Role: carechain.RolePhysician, Read: []string{"lab"}, Write: []string{"lab"}, Purposes: []consent.Purpose{consent.PurposeTreatment}}}}
	h.commitEdited(func(b *store.Block) error {
		var cats []string
		if err := getCBOR(b, categoriesKey, &cats); err != nil {
			return err
		}
		return errors.Join(b.Delete(patientReportedKey), setCBOR(b, categoriesKey, slices.DeleteFunc(cats, func(c string) bool { return c == reported })),
			putRolePolicy(b, "hosp-a", old), putRolePolicy(b, "hosp-b", own))
	})
	if cats, err := h.at(0).Categories(); err != nil || slices.Contains(cats, reported) {
		t.Fatalf("legacy state's categories %v, %v: want no %s", cats, err, reported)
	}
	// CheckTx judges a patient's write by what the next block will hold.
	first := h.sign("patient/p", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", reported, 1, []string{"patient/p"}))
	if code := h.check(first); code != CodeOK {
		t.Fatalf("CheckTx of a patient's write before the migration: %v", code)
	}
	// The first block the app finalizes migrates, before its transactions.
	if code, log := h.blockResp(first); code != CodeOK {
		t.Fatalf("patient's write in the migrating block: %v %s", code, log)
	}
	v := h.at(0)
	if cats, err := v.Categories(); err != nil || !slices.Contains(cats, reported) || !slices.Contains(cats, "mental-health") {
		t.Errorf("categories after migration: %v, %v", cats, err)
	}
	a, err := v.RolePolicy("hosp-a")
	if err != nil || a.Version != 3 || a.Height != h.height {
		t.Fatalf("hosp-a's policy after migration = %+v, %v; want version 3 at height %d", a, err, h.height)
	}
	if ok, why := a.Policy.Permits(&carechain.Principal{ID: "hosp-a/dr-a", Org: "hosp-a", Roles: []carechain.Role{carechain.RolePhysician}},
		consent.ActionRead, reported, consent.PurposeTreatment, true); !ok {
		t.Errorf("hosp-a's physicians may not read %s after migration: %s", reported, why)
	}
	if b, err := v.RolePolicy("hosp-b"); err != nil || b.Version != 2 || len(b.Policy.Rules) != 1 || strings.Join(b.Policy.Rules[0].Read, ",") != "lab" {
		t.Errorf("hosp-b's own policy after migration = %+v, %v; want it unchanged", b, err)
	}
}
