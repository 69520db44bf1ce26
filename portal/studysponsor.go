package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// The sponsor's page (/portal/studies/sponsor), for any organization's
// admin, since any organization may sponsor a study: its studies with their
// protocol versions and status, reports, data locks and enrolment count,
// and the forms that do what `carechain study register`, `study amend` and
// `study lock` do. Documents (the protocol, the analysis plan) are read as
// they are uploaded and only their SHA-256 is kept; a dataset's resources
// are read in memory for its Merkle root (upload.go).

// sponsorPage is the sponsor's page's data.
type sponsorPage struct {
	Studies     []sponsorStudy
	Boards      []option // the organizations that may be a new study's ethics board
	Done, Error string
	// Form is what a refused registration posted, shown again in the
	// registration form (a refused amendment's form starts again from the
	// protocol in force).
	Form url.Values
}

// sponsorStudy is one of the sponsor's studies, with the protocol in force
// in the text forms its amendment form starts from.
type sponsorStudy struct {
	ledger.StudyState
	Board                     string
	Versions                  []ledger.StudyVersion
	Reports                   []ledger.StudyReportState
	Locks                     []ledger.StudyLockState
	InForce                   study.Protocol
	Endpoints, Arms, Criteria string
	Categories, DataUntil     string
}

func (p *Portal) studySponsorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/studies/sponsor", p.secured(p.admin(p.studySponsor)))
	mux.HandleFunc("POST /portal/studies/register", p.secured(p.postedUpload(nil, p.studyRegister)))
	mux.HandleFunc("POST /portal/studies/amend", p.secured(p.postedUpload(nil, p.studyAmend)))
	mux.HandleFunc("POST /portal/studies/lock", p.secured(p.postedUpload(map[string]bool{"dataset": true}, p.studyLock)))
}

func (p *Portal) studySponsor(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderSponsor(w, r, s, http.StatusOK, sponsorPage{})
}

// sponsorAct runs act as the signed-in admin's signed action and renders
// the sponsor's page with its outcome: done on success, the ledger's or
// the form's reason on a refusal.
func (p *Portal) sponsorAct(w http.ResponseWriter, r *http.Request, s *session, act func(records.Signer) (string, error)) {
	if s.who.Kind != carechain.KindAdmin {
		p.fail(w, r, s, http.StatusForbidden, "This page is for organizations' admins.")
		return
	}
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	page := sponsorPage{}
	done, err := act(signer)
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		page.Done = done
	} else if r.URL.Path == "/portal/studies/register" {
		page.Form = r.PostForm
	}
	p.renderSponsor(w, r, s, status, page)
}

// invalid is a refusal of the form's content, shown on the page.
func invalid(format string, args ...any) error {
	return carechain.E(carechain.KindInvalid, fmt.Errorf(format, args...))
}

// lines are the non-blank lines of a text area.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// protocolFromForm is base (nil: empty) as the form's protocol fields
// make it: an uploaded document replaces its hash, the text areas (one
// endpoint, arm or criterion a line) replace their lists.
func protocolFromForm(base *study.Protocol, f url.Values, up *upload) (study.Protocol, error) {
	var pr study.Protocol
	if base != nil {
		pr = *base
	}
	if sum, ok := up.sums["protocol"]; ok {
		pr.DocumentHash = sum
	}
	if sum, ok := up.sums["analysis_plan"]; ok {
		pr.AnalysisPlanHash = sum
	}
	pr.Endpoints, pr.Arms, pr.Criteria = nil, nil, nil
	for _, l := range lines(f.Get("endpoints")) {
		e, err := study.ParseEndpoint(l)
		if err != nil {
			return pr, invalid("%w", err)
		}
		pr.Endpoints = append(pr.Endpoints, e)
	}
	for _, l := range lines(f.Get("arms")) {
		pr.Arms = append(pr.Arms, study.ParseArm(l))
	}
	for _, l := range lines(f.Get("criteria")) {
		pr.Criteria = append(pr.Criteria, study.ParseCriterion(l))
	}
	pr.Eligibility = strings.TrimSpace(f.Get("eligibility"))
	pr.DataCategories = strings.FieldsFunc(f.Get("categories"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
	pr.DataUntil = 0
	if d := strings.TrimSpace(f.Get("data_until")); d != "" {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return pr, invalid("the end of the data period %q is not a date (2027-01-31)", d)
		}
		pr.DataUntil = t.Unix()
	}
	if err := pr.Check(); err != nil {
		return pr, invalid("%w", err)
	}
	return pr, nil
}

// studyRegister registers a study sponsored by the admin's organization.
func (p *Portal) studyRegister(w http.ResponseWriter, r *http.Request, s *session, up *upload) {
	p.sponsorAct(w, r, s, func(signer records.Signer) (string, error) {
		f := r.PostForm
		for _, doc := range []string{"protocol", "analysis_plan"} {
			if _, ok := up.sums[doc]; !ok {
				return "", invalid("attach the protocol document and the statistical analysis plan: their SHA-256 go on the ledger")
			}
		}
		pr, err := protocolFromForm(nil, f, up)
		if err != nil {
			return "", err
		}
		reg := tx.StudyRegister{ID: strings.TrimSpace(f.Get("id")), Title: strings.TrimSpace(f.Get("title")), EthicsBoard: f.Get("ethics_board"), Protocol: pr}
		if err := p.records.RegisterStudy(r.Context(), signer, reg); err != nil {
			return "", err
		}
		p.logger.Info("portal study registered", "principal", s.who.ID, "study", reg.ID)
		return fmt.Sprintf("Registered study %s: protocol version 1 is locked on the ledger, protocol document SHA-256 %x.", reg.ID, pr.DocumentHash), nil
	})
}

// sponsoredStudy is the protocol in force of study id, which the admin's
// organization sponsors.
func sponsoredStudy(v *ledger.View, who *carechain.Principal, id string) (*ledger.StudyState, *ledger.StudyVersion, error) {
	st, inForce, err := studyInForce(v, id)
	if err != nil || st.Sponsor != who.Org {
		return nil, nil, invalid("your organization sponsors no study %q", id)
	}
	return st, inForce, nil
}

// studyAmend proposes the next version of one of the organization's
// studies: the protocol in force with the form's fields.
func (p *Portal) studyAmend(w http.ResponseWriter, r *http.Request, s *session, up *upload) {
	p.sponsorAct(w, r, s, func(signer records.Signer) (string, error) {
		f := r.PostForm
		st, inForce, err := sponsoredStudy(p.app.Latest(), s.who, f.Get("study"))
		if err != nil {
			return "", err
		}
		pr, err := protocolFromForm(&inForce.Protocol, f, up)
		if err != nil {
			return "", err
		}
		changes := study.Diff(&inForce.Protocol, &pr)
		if len(changes) == 0 {
			return "", invalid("the amendment changes nothing of version %d", st.Version)
		}
		am := tx.StudyAmend{Study: st.ID, Version: st.Last + 1, Protocol: pr, Reason: strings.TrimSpace(f.Get("reason"))}
		if err := p.records.AmendStudy(r.Context(), signer, am); err != nil {
			return "", err
		}
		p.logger.Info("portal study amendment", "principal", s.who.ID, "study", am.Study, "version", am.Version)
		return fmt.Sprintf("Proposed amendment %d of study %s: it %s. It is in force once the ethics board approves it.", am.Version, am.Study, strings.Join(changes, "; ")), nil
	})
}

// studyLock commits the Merkle root of the uploaded dataset (NDJSON files)
// under the form's name, as `carechain study lock` does.
func (p *Portal) studyLock(w http.ResponseWriter, r *http.Request, s *session, up *upload) {
	p.sponsorAct(w, r, s, func(signer records.Signer) (string, error) {
		f := r.PostForm
		st, _, err := sponsoredStudy(p.app.Latest(), s.who, f.Get("study"))
		if err != nil {
			return "", err
		}
		var all [][]byte
		for i, file := range up.kept["dataset"] {
			res, err := study.ReadDataset(strings.NewReader(string(file)))
			if err != nil {
				return "", invalid("dataset file %d: %w", i+1, err)
			}
			all = append(all, res...)
		}
		if len(all) == 0 {
			return "", invalid("attach the dataset: NDJSON files of FHIR resources")
		}
		root, err := study.DatasetRoot(all)
		if err != nil {
			return "", invalid("%w", err)
		}
		l := tx.StudyLock{Study: st.ID, Name: strings.TrimSpace(f.Get("name")), Root: root, Count: uint64(len(all))}
		if err := p.records.LockStudy(r.Context(), signer, l); err != nil {
			return "", err
		}
		p.logger.Info("portal study data lock", "principal", s.who.ID, "study", l.Study, "name", l.Name)
		return fmt.Sprintf("Locked dataset %s of study %s: %d resources, Merkle root %x.", l.Name, l.Study, l.Count, root), nil
	})
}

func (p *Portal) renderSponsor(w http.ResponseWriter, r *http.Request, s *session, status int, page sponsorPage) {
	v := p.app.Latest()
	all, err := v.Studies()
	if err == nil {
		page.Boards, err = boardOptions(v, s.who.Org)
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, st := range all {
		if st.Sponsor != s.who.Org {
			continue
		}
		row, err := sponsorRow(v, st)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		page.Studies = append(page.Studies, row)
	}
	p.render(w, s, status, "studysponsor", "Sponsored studies", page)
}

// boardOptions are the organizations other than own.
func boardOptions(v *ledger.View, own string) ([]option, error) {
	orgs, err := v.Organizations()
	var out []option
	for _, o := range orgs {
		if o.ID != own {
			out = append(out, option{Value: o.ID, Label: o.Name + " (" + o.ID + ")"})
		}
	}
	return out, err
}

// sponsorRow is study st as its sponsor's page shows it.
func sponsorRow(v *ledger.View, st ledger.StudyState) (sponsorStudy, error) {
	row := sponsorStudy{StudyState: st, Board: principalOrg(v, st.EthicsBoard)}
	var err error
	if row.Versions, err = v.StudyVersions(st.ID); err == nil {
		if row.Reports, err = v.StudyReports(st.ID); err == nil {
			row.Locks, err = v.StudyLocks(st.ID)
		}
	}
	if i := slices.IndexFunc(row.Versions, func(x ledger.StudyVersion) bool { return x.Version == st.Version }); i >= 0 {
		row.InForce = row.Versions[i].Protocol
		row.Endpoints, row.Arms, row.Criteria = row.InForce.Text()
		row.Categories = strings.Join(row.InForce.DataCategories, ", ")
		if row.InForce.DataUntil != 0 {
			row.DataUntil = time.Unix(row.InForce.DataUntil, 0).UTC().Format(time.DateOnly)
		}
	}
	return row, err
}
