package ledger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Clinical studies with a locked protocol (package study). A sponsor
// organization's admin registers a study (study.register) naming another
// organization as its ethics board; the protocol registered is version 1,
// in force at once. Every later change is an amendment (study.amend, by the
// sponsor's admin, with its reason and the list of what it changes),
// pending until an admin of the ethics board decides it (study.decide):
// approved, it is the protocol in force from that height; rejected, it is
// kept as rejected. One amendment is pending at a time, each with the next
// version number. Results are reported
// (study.report, by the sponsor's admin) against the version in force,
// naming the endpoints reported: one the protocol does not register, or a
// primary endpoint left out, is refused, and every version, decision and
// report is in the transparency log, so anyone can compare a publication
// with what was registered. A protocol is trial metadata (hashes,
// endpoints, arms, criteria), not health data: in plain, readable by every
// member. None of these transaction types existed before: earlier blocks
// replay unchanged.

func init() {
	handle(tx.TypeStudyRegister, (*App).applyStudyRegister)
	handle(tx.TypeStudyAmend, (*App).applyStudyAmend)
	handle(tx.TypeStudyDecide, (*App).applyStudyDecide)
	handle(tx.TypeStudyReport, (*App).applyStudyReport)
}

// StudyState is a study, stored at "study/<id>".
type StudyState struct {
	ID          string `cbor:"1,keyasint" json:"id"`
	Title       string `cbor:"2,keyasint" json:"title"`
	Sponsor     string `cbor:"3,keyasint" json:"sponsor"`
	EthicsBoard string `cbor:"4,keyasint" json:"ethics_board"`
	// Version is the protocol version in force; Pending the amendment
	// awaiting the ethics board (0: none).
	Version uint64 `cbor:"5,keyasint" json:"version"`
	Pending uint64 `cbor:"6,keyasint,omitempty" json:"pending,omitempty"`
	Reports uint64 `cbor:"7,keyasint,omitempty" json:"reports,omitempty"`
	Height  int64  `cbor:"8,keyasint" json:"height"`
	Time    int64  `cbor:"9,keyasint" json:"time"`
	// Last is the last version proposed: a rejected amendment keeps its
	// number, and the next proposal takes the one after.
	Last uint64 `cbor:"10,keyasint" json:"last"`
	// Enrolled counts enrolments (enrolment.go); SeedHash is the committed
	// SHA-256 of the randomization seed, Seed the seed once revealed at
	// UnblindedHeight. Studies before them encode as they always did.
	Enrolled        uint64 `cbor:"11,keyasint,omitempty" json:"enrolled,omitempty"`
	SeedHash        []byte `cbor:"12,keyasint,omitempty" json:"seed_hash,omitempty"`
	Seed            []byte `cbor:"13,keyasint,omitempty" json:"seed,omitempty"`
	UnblindedHeight int64  `cbor:"14,keyasint,omitempty" json:"unblinded_height,omitempty"`
	// Locks counts data locks (studylock.go).
	Locks uint64 `cbor:"15,keyasint,omitempty" json:"locks,omitempty"`
}

// Amendment statuses of a StudyVersion.
const (
	StudyApproved = "approved" // in force from DecidedHeight (version 1: from registration)
	StudyPending  = "pending"
	StudyRejected = "rejected"
)

// StudyVersion is a version of a study's protocol, stored at
// "study-version/<id>/<version>".
type StudyVersion struct {
	Study    string         `cbor:"1,keyasint" json:"study"`
	Version  uint64         `cbor:"2,keyasint" json:"version"`
	Protocol study.Protocol `cbor:"3,keyasint" json:"protocol"`
	Reason   string         `cbor:"4,keyasint,omitempty" json:"reason,omitempty"`
	// Changes says what it changes of the version before (study.Diff).
	Changes        []string `cbor:"5,keyasint,omitempty" json:"changes,omitempty"`
	Proposer       string   `cbor:"6,keyasint" json:"proposer"`
	ProposedHeight int64    `cbor:"7,keyasint" json:"proposed_height"`
	Status         string   `cbor:"8,keyasint" json:"status"`
	Decider        string   `cbor:"9,keyasint,omitempty" json:"decider,omitempty"`
	DecidedHeight  int64    `cbor:"10,keyasint,omitempty" json:"decided_height,omitempty"`
	DecisionReason string   `cbor:"11,keyasint,omitempty" json:"decision_reason,omitempty"`
}

// StudyReportState is a report of a study's results, stored at
// "study-report/<id>/<n>".
type StudyReportState struct {
	Study       string   `cbor:"1,keyasint" json:"study"`
	Number      uint64   `cbor:"2,keyasint" json:"number"`
	Version     uint64   `cbor:"3,keyasint" json:"version"`
	Endpoints   []string `cbor:"4,keyasint" json:"endpoints"`
	ResultsHash []byte   `cbor:"5,keyasint" json:"results_hash"`
	Reporter    string   `cbor:"6,keyasint" json:"reporter"`
	Height      int64    `cbor:"7,keyasint" json:"height"`
}

func studyKey(id string) string { return "study/" + id }
func studyVersionKey(id string, v uint64) string {
	return fmt.Sprintf("study-version/%s/%020d", id, v)
}
func studyReportKey(id string, n uint64) string { return fmt.Sprintf("study-report/%s/%020d", id, n) }

// Study returns a study (ErrNotFound if none).
func (v *View) Study(id string) (*StudyState, error) { return getStudy(v, id) }

func getStudy(r reader, id string) (*StudyState, error) {
	var s StudyState
	if err := getCBOR(r, studyKey(id), &s); err != nil {
		return nil, fmt.Errorf("study %s: %w", id, err)
	}
	return &s, nil
}

// Studies lists every registered study, by ID.
func (v *View) Studies() ([]StudyState, error) { return scanValues[StudyState](v, "study/") }

// StudyVersions lists a study's protocol versions, oldest first, with
// their status.
func (v *View) StudyVersions(id string) ([]StudyVersion, error) {
	return scanValues[StudyVersion](v, "study-version/"+id+"/")
}

// StudyReports lists a study's reports, oldest first.
func (v *View) StudyReports(id string) ([]StudyReportState, error) {
	return scanValues[StudyReportState](v, "study-report/"+id+"/")
}

func (a *App) applyStudyRegister(b *store.Block, c *checked, r *tx.StudyRegister) *Rejection {
	s := c.signer
	if s.Kind != carechain.KindAdmin {
		return reject(CodeUnauthorized, "%s may not register a study: a sponsor organization's admin does", s.ID)
	}
	if r.EthicsBoard == s.Org {
		return reject(CodeInvalid, "the ethics board of a study is another organization than its sponsor %s", s.Org)
	}
	if _, err := getOrg(b, r.EthicsBoard); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "ethics board %q is not an organization of the consortium", r.EthicsBoard)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if _, err := getStudy(b, r.ID); err == nil {
		return reject(CodeConflict, "study %s is registered: change its protocol by an amendment", r.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	st := StudyState{ID: r.ID, Title: r.Title, Sponsor: s.Org, EthicsBoard: r.EthicsBoard, Version: 1, Last: 1, Height: b.Height(), Time: c.now}
	v1 := StudyVersion{Study: r.ID, Version: 1, Protocol: r.Protocol, Proposer: s.ID, ProposedHeight: b.Height(), Status: StudyApproved, DecidedHeight: b.Height()}
	return putStudy(b, &st, &v1)
}

// putStudy writes a study and one of its versions.
func putStudy(b *store.Block, st *StudyState, v *StudyVersion) *Rejection {
	if err := setCBOR(b, studyKey(st.ID), st); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, studyVersionKey(st.ID, v.Version), v, tlog.KindStudy, fmt.Sprintf("%s/v%d", st.ID, v.Version)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// sponsorStudy reads study id for its sponsor's admin s.
func sponsorStudy(b *store.Block, s *carechain.Principal, id, what string) (*StudyState, *Rejection) {
	st, err := getStudy(b, id)
	if errors.Is(err, ErrNotFound) {
		return nil, reject(CodeInvalid, "study %s is not registered", id)
	} else if err != nil {
		return nil, reject(CodeInternal, "%v", err)
	}
	if s.Kind != carechain.KindAdmin || s.Org != st.Sponsor {
		return nil, reject(CodeUnauthorized, "%s may not %s study %s: its sponsor %s's admin does", s.ID, what, id, st.Sponsor)
	}
	return st, nil
}

func (a *App) applyStudyAmend(b *store.Block, c *checked, am *tx.StudyAmend) *Rejection {
	st, rej := sponsorStudy(b, c.signer, am.Study, "amend")
	if rej != nil {
		return rej
	}
	switch {
	case st.Pending != 0:
		return reject(CodeConflict, "amendment %d of study %s awaits the ethics board %s", st.Pending, st.ID, st.EthicsBoard)
	case am.Version != st.Last+1:
		return reject(CodeStaleVersion, "study %s's last version is %d: propose version %d", st.ID, st.Last, st.Last+1)
	}
	var cur StudyVersion
	if err := getCBOR(b, studyVersionKey(st.ID, st.Version), &cur); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	changes := study.Diff(&cur.Protocol, &am.Protocol)
	if len(changes) == 0 {
		return reject(CodeInvalid, "the amendment changes nothing of version %d", st.Version)
	}
	st.Pending, st.Last = am.Version, am.Version
	v := StudyVersion{Study: st.ID, Version: am.Version, Protocol: am.Protocol, Reason: am.Reason, Changes: changes,
		Proposer: c.signer.ID, ProposedHeight: b.Height(), Status: StudyPending}
	return putStudy(b, st, &v)
}

func (a *App) applyStudyDecide(b *store.Block, c *checked, d *tx.StudyDecide) *Rejection {
	s := c.signer
	st, err := getStudy(b, d.Study)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "study %s is not registered", d.Study)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if s.Kind != carechain.KindAdmin || s.Org != st.EthicsBoard {
		return reject(CodeUnauthorized, "%s may not decide amendments of study %s: its ethics board %s's admin does", s.ID, st.ID, st.EthicsBoard)
	}
	if st.Pending == 0 || st.Pending != d.Version {
		return reject(CodeInvalid, "study %s has no pending amendment %d", st.ID, d.Version)
	}
	var v StudyVersion
	if err := getCBOR(b, studyVersionKey(st.ID, d.Version), &v); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	v.Decider, v.DecidedHeight, v.DecisionReason, v.Status = s.ID, b.Height(), d.Reason, StudyRejected
	if d.Approved {
		v.Status, st.Version = StudyApproved, d.Version
	}
	st.Pending = 0
	return putStudy(b, st, &v)
}

func (a *App) applyStudyReport(b *store.Block, c *checked, r *tx.StudyReport) *Rejection {
	st, rej := sponsorStudy(b, c.signer, r.Study, "report results of")
	if rej != nil {
		return rej
	}
	if r.Version != st.Version {
		return reject(CodeStaleVersion, "study %s reports against its protocol in force, version %d", st.ID, st.Version)
	}
	var cur StudyVersion
	if err := getCBOR(b, studyVersionKey(st.ID, st.Version), &cur); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := study.CheckReport(&cur.Protocol, r.Endpoints); err != nil {
		return reject(CodeInvalid, "study %s version %d: %v (registered: %s)", st.ID, st.Version, err, endpointList(&cur.Protocol))
	}
	st.Reports++
	rep := StudyReportState{Study: st.ID, Number: st.Reports, Version: r.Version, Endpoints: r.Endpoints, ResultsHash: r.ResultsHash,
		Reporter: c.signer.ID, Height: b.Height()}
	if err := setCBOR(b, studyKey(st.ID), st); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, studyReportKey(st.ID, rep.Number), rep, tlog.KindStudy, fmt.Sprintf("%s/report/%d", st.ID, rep.Number)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// endpointList names a protocol's endpoints with their kinds.
func endpointList(p *study.Protocol) string {
	var out []string
	for _, e := range p.Endpoints {
		out = append(out, e.ID+" ("+e.Kind+")")
	}
	return strings.Join(out, ", ")
}
