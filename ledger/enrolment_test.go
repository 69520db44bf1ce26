package ledger

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// TestStudyConsentAndEnrolment: hosp-a sponsors a study reading lab data.
// A study consent must carry the study's terms; enrolment requires one in
// force, the randomization seed committed first, and the criteria of the
// version in force; unblinding reveals only the committed seed, and the
// arms follow from it.
func TestStudyConsentAndEnrolment(t *testing.T) {
	h := recordWorld(t)
	h.block(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 1, "patient/p", "lab", 1, []string{"hosp-a", "patient/p"})))
	p := trialProtocol("hba1c")
	p.DataCategories = []string{"lab"}
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyRegister, &tx.StudyRegister{ID: "dm-1", Title: "t", EthicsBoard: "hosp-b", Protocol: p})); c[0] != CodeOK {
		t.Fatalf("register: %v", c)
	}
	studyGrant := func(edit func(g *consent.Grant)) *tx.ConsentGrant {
		g := consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-a"}, Categories: []string{"lab"}, Study: "dm-1",
			Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch}}
		if edit != nil {
			edit(&g)
		}
		return &tx.ConsentGrant{Grant: g}
	}
	h.judge(h.sign("patient/p", tx.TypeConsentGrant, studyGrant(func(g *consent.Grant) { g.Grantee.Org = "hosp-b" })), StageFinalize, CodeInvalid, "is to its sponsor hosp-a")
	h.judge(h.sign("patient/p", tx.TypeConsentGrant, studyGrant(func(g *consent.Grant) { g.Categories = []string{"lab", "imaging"} })), StageFinalize, CodeInvalid, "no more and no fewer")
	h.judge(h.sign("patient/p", tx.TypeConsentGrant, studyGrant(func(g *consent.Grant) { g.Study = "dm-9" })), StageFinalize, CodeInvalid, "study dm-9 is not registered")
	grant := h.sign("patient/p", tx.TypeConsentGrant, studyGrant(nil))
	if c := h.block(grant); c[0] != CodeOK {
		t.Fatalf("study consent: %v", c)
	}
	gid := GrantID(sha256.Sum256(grant))
	if pt, err := h.at(0).StudyConsentPatient("dm-1", gid); err != nil || pt != "patient/p" {
		t.Fatalf("the consent's index: %q %v (grant id %s)", pt, err, gid)
	}

	enrol := func(consent string, version uint64) *tx.StudyEnrol {
		return &tx.StudyEnrol{Study: "dm-1", Consent: consent, Eligible: true, Version: version}
	}
	seed := bytes.Repeat([]byte{7}, tx.SeedSize)
	commit := sha256.Sum256(seed)
	h.judge(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, enrol(gid, 1)), StageFinalize, CodeInvalid, "has not committed its randomization seed")
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyRandomization, &tx.StudyRandomization{Study: "dm-1", SeedHash: commit[:]}), StageFinalize, CodeUnauthorized, "its sponsor hosp-a's admin does")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyRandomization, &tx.StudyRandomization{Study: "dm-1", SeedHash: commit[:]})); c[0] != CodeOK {
		t.Fatalf("commit: %v", c)
	}
	h.judge(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, enrol("g-000000000000", 1)), StageFinalize, CodeDenied, "requires the patient's consent to it")
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyEnrol, enrol(gid, 1)), StageFinalize, CodeUnauthorized, "a site's practitioner or the patient does")
	h.judge(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, enrol(gid, 2)), StageFinalize, CodeStaleVersion, "version 1")
	h.judge(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, &tx.StudyEnrol{Study: "dm-1", Consent: gid, Version: 1}), StageFinalize, CodeInvalid, "only a patient found eligible")
	if c := h.block(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, enrol(gid, 1))); c[0] != CodeOK {
		t.Fatalf("enrol: %v", c)
	}
	h.judge(h.sign("patient/p", tx.TypeStudyEnrol, enrol(gid, 1)), StageFinalize, CodeConflict, "enrolled in study dm-1 already")
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyRandomization, &tx.StudyRandomization{Study: "dm-1", SeedHash: commit[:]}), StageFinalize, CodeConflict, "committed already")

	h.judge(h.sign("hosp-a/admin", tx.TypeStudyUnblind, &tx.StudyUnblind{Study: "dm-1", Seed: bytes.Repeat([]byte{8}, tx.SeedSize)}), StageFinalize, CodeInvalid, "does not match")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyUnblind, &tx.StudyUnblind{Study: "dm-1", Seed: seed})); c[0] != CodeOK {
		t.Fatalf("unblind: %v", c)
	}
	v := h.at(0)
	st, _ := v.Study("dm-1")
	ens, err := v.Enrolments("dm-1")
	if err != nil || len(ens) != 1 || ens[0].Consent != gid || ens[0].Enroller != "hosp-b/dr-b" || !bytes.Equal(st.Seed, seed) || st.Enrolled != 1 {
		t.Fatalf("study %+v, enrolments %+v %v", st, ens, err)
	}
	if arm := study.Allocate(st.Seed, 1, p.Arms); arm != "drug" && arm != "placebo" {
		t.Fatalf("arm %q", arm)
	}
	h.judge(h.sign("hosp-b/dr-b", tx.TypeStudyEnrol, enrol(gid, 1)), StageFinalize, CodeInvalid, "enrolment is closed")

	// Data lock: the sponsor's admin commits a dataset's root.
	lock := &tx.StudyLock{Study: "dm-1", Name: "primary", Root: bytes.Repeat([]byte{3}, 32), Count: 2}
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyLock, lock), StageFinalize, CodeUnauthorized, "its sponsor hosp-a's admin does")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyLock, lock)); c[0] != CodeOK {
		t.Fatalf("lock: %v", c)
	}
	if locks, err := h.at(0).StudyLocks("dm-1"); err != nil || len(locks) != 1 || locks[0].Number != 1 || locks[0].Locker != "hosp-a/admin" {
		t.Fatalf("locks %+v %v", locks, err)
	}
}
