package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// visitWorld: hosp-b sponsors study dm-1 under hosp-a's ethics board;
// patient/p consents and hosp-a/dr-a (the site) enrols them as subject
// dm-1.1; dr-a writes lab records r1 and r2 of patient/p and r9 of
// patient/q. Record bytes are fixed, so app hashes repeat from run to run.
func visitWorld(t *testing.T) *harness {
	h := recordWorld(t)
	h.keys["patient/q"] = key(14)
	h.mustBlock("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "patient/q", Kind: carechain.KindPatient, PublicKey: pub(14), EncryptionKey: encKey(t, 14).Public().Bytes()})
	p := trialProtocol("hba1c")
	p.DataCategories = []string{"lab"}
	h.mustBlock("hosp-b/admin", tx.TypeStudyRegister, &tx.StudyRegister{ID: "dm-1", Title: "t", EthicsBoard: "hosp-a", Protocol: p})
	grant := h.sign("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{Grant: consent.Grant{Patient: "patient/p", Grantee: consent.Grantee{Org: "hosp-b"},
		Categories: []string{"lab"}, Study: "dm-1", Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch}}})
	if c := h.block(grant); c[0] != CodeOK {
		t.Fatalf("study consent: %v", c)
	}
	seed := sha256.Sum256([]byte("seed"))
	h.mustBlock("hosp-b/admin", tx.TypeStudyRandomization, &tx.StudyRandomization{Study: "dm-1", SeedHash: seed[:]})
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyEnrol, &tx.StudyEnrol{Study: "dm-1", Consent: GrantID(sha256.Sum256(grant)), Eligible: true, Version: 1})
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r1", 1, "patient/p", []string{"hosp-a", "hosp-b", "patient/p"}))
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r2", 1, "patient/p", nil))
	h.mustBlock("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r9", 1, "patient/q", []string{"hosp-a", "patient/q"}))
	return h
}

func visitLock(visit string, records ...tx.VisitRecord) *tx.StudyVisitLock {
	return &tx.StudyVisitLock{Study: "dm-1", Subject: 1, Visit: visit, Records: records}
}

// TestVisitLockRefusals: only a practitioner of the enrolling site locks a
// visit, of an enrolled subject, naming the subject's own records at their
// latest version; a visit is locked once, and a record is in one locked
// visit. Each refusal changes nothing.
func TestVisitLockRefusals(t *testing.T) {
	h := visitWorld(t)
	r1, r2, r9 := tx.VisitRecord{ID: "r1", Version: 1}, tx.VisitRecord{ID: "r2", Version: 1}, tx.VisitRecord{ID: "r9", Version: 1}
	for _, c := range []struct {
		signer string
		body   *tx.StudyVisitLock
		want   Code
		reason string
	}{
		{"hosp-b/dr-b", visitLock("baseline", r1), CodeUnauthorized, "a practitioner of its enrolling site hosp-a does"},
		{"hosp-b/admin", visitLock("baseline", r1), CodeUnauthorized, "a practitioner of its enrolling site hosp-a does"},
		{"hosp-a/dr-a", &tx.StudyVisitLock{Study: "dm-1", Subject: 2, Visit: "baseline", Records: []tx.VisitRecord{r1}}, CodeInvalid, "study dm-1 has no subject dm-1.2"},
		{"hosp-a/dr-a", &tx.StudyVisitLock{Study: "dm-9", Subject: 1, Visit: "baseline", Records: []tx.VisitRecord{r1}}, CodeInvalid, "study dm-9 is not registered"},
		{"hosp-a/dr-a", visitLock("baseline", r1, r9), CodeInvalid, "record r9 is not subject dm-1.1's"},
		{"hosp-a/dr-a", visitLock("baseline", tx.VisitRecord{ID: "r1", Version: 2}), CodeStaleVersion, "record r1 is at version 1"},
		{"hosp-a/dr-a", visitLock("baseline", tx.VisitRecord{ID: "r5", Version: 1}), CodeInvalid, "record r5 does not exist"},
		{"hosp-a/dr-a", visitLock("baseline", r2, r1), CodeInvalid, "sorted by id"},
	} {
		h.judge(h.sign(c.signer, tx.TypeStudyVisitLock, c.body), StageCheck, c.want, c.reason)
	}
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("baseline", r1, r2))
	h.judge(h.sign("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("baseline", r2)), StageCheck, CodeConflict, "visit baseline of subject dm-1.1 is locked already")
	h.judge(h.sign("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("week-4", r1)), StageCheck, CodeConflict, "record r1 is in visit baseline of subject dm-1.1 of study dm-1 already")

	v := h.at(0)
	locks, err := v.VisitLocks("dm-1")
	if err != nil || len(locks) != 1 || locks[0].Locker != "hosp-a/dr-a" || locks[0].SubjectID() != "dm-1.1" || len(locks[0].Records) != 2 {
		t.Fatalf("visit locks %+v %v", locks, err)
	}
	var hashes [][]byte
	for _, id := range []string{"r1", "r2"} {
		vs, err := v.RecordVersions(id)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, vs[0].CiphertextHash)
		if head, err := v.Record(id); err != nil || !head.Locked {
			t.Fatalf("record %s is locked: %+v %v", id, head, err)
		}
	}
	if !bytes.Equal(locks[0].Root, study.HashesRoot(hashes)) {
		t.Fatalf("the lock's root %x is not the Merkle root of the versions' ciphertext hashes", locks[0].Root)
	}
	if lv, err := v.LockedVisit("r2"); err != nil || lv.Visit != "baseline" || lv.Subject != 1 {
		t.Fatalf("locked visit of r2: %+v %v", lv, err)
	}
	if _, err := v.LockedVisit("r9"); err == nil {
		t.Fatal("r9 is in no locked visit")
	}
}

// TestLockedVisitChangesOnlyByStudyApproval: after the lock a direct
// write or deletion of its record is a conflict naming the visit; a
// proposal commits only once both the sponsor's admin and the ethics
// board's admin approved it; the new version is locked, the old one kept.
// Approval policies cannot name admins: only the ledger derives that rule.
func TestLockedVisitChangesOnlyByStudyApproval(t *testing.T) {
	h := visitWorld(t)
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("baseline", tx.VisitRecord{ID: "r1", Version: 1}))
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r1", 2, "patient/p", nil)), StageCheck, CodeConflict,
		"record r1 is in visit baseline of subject dm-1.1 of study dm-1, locked at height")
	del := fixedPut(t, "r1", 2, "patient/p", nil)
	del.Deleted = true
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, del), StageCheck, CodeConflict, "approved by the admins of the sponsor hosp-b and of the ethics board hosp-a")

	next := fixedPut(t, "r1", 2, "patient/p", nil)
	h.mustBlock("hosp-a/dr-a", tx.TypeAmendPropose, &tx.AmendPropose{Put: *next, BaseVersion: 1, SealedReason: []byte("sealed"), Expires: blockTime(1000).Unix()})
	ps, err := h.at(0).Proposals()
	if err != nil || len(ps) != 1 || ps[0].Rule.Kind != tx.AllOf || len(ps[0].Rule.Terms) != 2 || ps[0].Rule.Terms[0].String() != "admin@hosp-b" {
		t.Fatalf("proposals %+v %v", ps, err)
	}
	approve := &tx.AmendApprove{ProposalID: ps[0].ID, ContentHash: ContentHash(next)}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeAmendApprove, approve), StageCheck, CodeUnauthorized, "fills no open term")
	h.mustBlock("hosp-b/admin", tx.TypeAmendApprove, approve)
	if head, _ := h.at(0).Record("r1"); head.Latest != 1 {
		t.Fatalf("one approval of two committed the change: %+v", head)
	}
	h.judge(h.sign("hosp-b/admin", tx.TypeAmendApprove, approve), StageCheck, CodeConflict, "already approved")
	h.mustBlock("hosp-a/admin", tx.TypeAmendApprove, approve)
	v := h.at(0)
	head, _ := v.Record("r1")
	vs, err := v.RecordVersions("r1")
	if err != nil || head.Latest != 2 || !head.Locked || len(vs) != 2 || vs[1].Proposal != ps[0].ID || !bytes.Equal(vs[0].CiphertextHash, fixedPut(t, "r1", 1, "patient/p", nil).CiphertextHash) {
		t.Fatalf("after both approvals: head %+v, versions %+v %v", head, vs, err)
	}
	h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, fixedPut(t, "r1", 3, "patient/p", nil)), StageCheck, CodeConflict, "visit baseline of subject dm-1.1")
	h.judge(h.sign("hosp-a/admin", tx.TypeAmendPolicy, &tx.AmendPolicy{Org: "hosp-a", Category: "lab",
		Rule: tx.Rule{Kind: tx.AnyOf, Terms: []tx.Term{{Admin: true, Org: "hosp-a"}}}}), StageCheck, CodeInvalid, "exactly one of")
}

// visitChainAppHash is the app hash of visitWorld with visit baseline
// locked: the same transactions replay to the same state.
func visitChainAppHash(t *testing.T) string {
	h := visitWorld(t)
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("baseline", tx.VisitRecord{ID: "r1", Version: 1}, tx.VisitRecord{ID: "r2", Version: 1}))
	info, err := h.app.CommitInfo(h.height)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(info.AppHash())
}

func TestVisitLockReplaysToTheSameAppHash(t *testing.T) {
	if a, b := visitChainAppHash(t), visitChainAppHash(t); a != b {
		t.Fatalf("the same chain with a visit lock reached app hashes %s and %s", a, b)
	}
}

// TestDataLockOfLockedVisits: a data lock of the study's locked visits
// carries their root (VisitsRoot) and record count, which the ledger
// checks; none is taken before a visit is locked.
func TestDataLockOfLockedVisits(t *testing.T) {
	h := visitWorld(t)
	lock := &tx.StudyLock{Study: "dm-1", Name: "visits", Root: bytes.Repeat([]byte{1}, 32), Count: 2, Visits: true}
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyLock, lock), StageCheck, CodeInvalid, "study dm-1 has no locked visit")
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("baseline", tx.VisitRecord{ID: "r1", Version: 1}))
	h.mustBlock("hosp-a/dr-a", tx.TypeStudyVisitLock, visitLock("week-4", tx.VisitRecord{ID: "r2", Version: 1}))
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyLock, lock), StageCheck, CodeInvalid, "study dm-1's 2 locked visits have root")
	locks, err := h.at(0).VisitLocks("dm-1")
	if err != nil {
		t.Fatal(err)
	}
	lock.Root, lock.Count = VisitsRoot(locks)
	if lock.Count != 2 || !bytes.Equal(lock.Root, study.HashesRoot([][]byte{locks[0].Root, locks[1].Root})) {
		t.Fatalf("VisitsRoot = %x over %d", lock.Root, lock.Count)
	}
	h.mustBlock("hosp-b/admin", tx.TypeStudyLock, lock)
	if got, err := h.at(0).StudyLocks("dm-1"); err != nil || len(got) != 1 || !got[0].Visits || !bytes.Equal(got[0].Root, lock.Root) {
		t.Fatalf("data locks %+v %v", got, err)
	}
}
