package ledger

import (
	"bytes"
	"testing"

	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

func trialProtocol(primary string) study.Protocol {
	return study.Protocol{DocumentHash: bytes.Repeat([]byte{1}, 32), AnalysisPlanHash: bytes.Repeat([]byte{2}, 32),
		Endpoints: []study.Endpoint{{ID: primary, Kind: study.Primary, Description: "primary outcome"},
			{ID: "weight", Kind: study.Secondary, Description: "weight change"}},
		Arms: []study.Arm{{ID: "drug"}, {ID: "placebo"}}, Eligibility: "adults with type 2 diabetes"}
}

// TestStudyProtocolIsLocked: hosp-a sponsors a study under hosp-b's
// ethics board. Only an approved amendment changes the protocol; a report
// must cover the registered primary endpoints of the version in force and
// nothing unregistered.
func TestStudyProtocolIsLocked(t *testing.T) {
	h := newHarness(t)
	reg := &tx.StudyRegister{ID: "dm-1", Title: "Quorvex in type 2 diabetes", EthicsBoard: "hosp-b", Protocol: trialProtocol("hba1c")}
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyRegister, &tx.StudyRegister{ID: "dm-1", Title: "x", EthicsBoard: "hosp-a", Protocol: trialProtocol("hba1c")}),
		StageFinalize, CodeInvalid, "another organization than its sponsor")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyRegister, reg)); c[0] != CodeOK {
		t.Fatalf("register: %v", c)
	}
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyRegister, reg), StageFinalize, CodeConflict, "change its protocol by an amendment")
	report := func(v uint64, endpoints ...string) *tx.StudyReport {
		return &tx.StudyReport{Study: "dm-1", Version: v, Endpoints: endpoints, ResultsHash: bytes.Repeat([]byte{9}, 32)}
	}
	// Outcome switching: a new primary endpoint reported without approval.
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyReport, report(1, "weight", "fasting-glucose")), StageFinalize, CodeInvalid, "fasting-glucose is not registered")
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyReport, report(1, "weight")), StageFinalize, CodeInvalid, "leaves out primary endpoint hba1c")

	switched := &tx.StudyAmend{Study: "dm-1", Version: 2, Protocol: trialProtocol("fasting-glucose"), Reason: "HbA1c assay unavailable"}
	h.judge(h.sign("hosp-b/admin", tx.TypeStudyAmend, switched), StageFinalize, CodeUnauthorized, "its sponsor hosp-a's admin does")
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyAmend, &tx.StudyAmend{Study: "dm-1", Version: 2, Protocol: trialProtocol("hba1c"), Reason: "r"}),
		StageFinalize, CodeInvalid, "changes nothing")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyAmend, switched)); c[0] != CodeOK {
		t.Fatalf("amend: %v", c)
	}
	// Pending: the protocol in force is still version 1.
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyReport, report(2, "fasting-glucose")), StageFinalize, CodeStaleVersion, "version 1")
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyDecide, &tx.StudyDecide{Study: "dm-1", Version: 2, Approved: true}), StageFinalize, CodeUnauthorized, "ethics board hosp-b's admin")
	if c := h.block(h.sign("hosp-b/admin", tx.TypeStudyDecide, &tx.StudyDecide{Study: "dm-1", Version: 2, Reason: "no justification for the switch"})); c[0] != CodeOK {
		t.Fatalf("reject: %v", c)
	}
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyReport, report(1, "fasting-glucose", "weight")), StageFinalize, CodeInvalid, "not registered")
	// Proposed again (version 3: the rejected one keeps 2) and approved: in force from the decision.
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyAmend, switched), StageFinalize, CodeStaleVersion, "propose version 3")
	switched.Version = 3
	if c := h.block(h.sign("hosp-a/admin", tx.TypeStudyAmend, switched)); c[0] != CodeOK {
		t.Fatalf("amend again: %v", c)
	}
	h.judge(h.sign("hosp-a/admin", tx.TypeStudyAmend, &tx.StudyAmend{Study: "dm-1", Version: 4, Protocol: trialProtocol("x"), Reason: "r"}), StageFinalize, CodeConflict, "awaits the ethics board")
	if c := h.block(h.sign("hosp-b/admin", tx.TypeStudyDecide, &tx.StudyDecide{Study: "dm-1", Version: 3, Approved: true, Reason: "assay withdrawn"}),
		h.sign("hosp-a/admin", tx.TypeStudyReport, report(3, "fasting-glucose"))); c[0] != CodeOK || c[1] != CodeOK {
		t.Fatalf("approve and report: %v", c)
	}
	v := h.at(0)
	st, _ := v.Study("dm-1")
	versions, _ := v.StudyVersions("dm-1")
	reports, _ := v.StudyReports("dm-1")
	if st.Version != 3 || st.Pending != 0 || len(versions) != 3 || versions[1].Status != StudyRejected || versions[2].Status != StudyApproved ||
		versions[2].Changes[0] != "drops primary endpoint hba1c" || len(reports) != 1 || reports[0].Version != 3 {
		t.Fatalf("study %+v, versions %+v, reports %+v", st, versions, reports)
	}
}
