package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// Clinical studies (ledger/studies.go): GET /v1/studies/{id}, for signed
// requests of members, answers a study with every version of its protocol
// (approved, pending or rejected, with reasons and what each changes) and
// its reports. Protocols are trial metadata, not health data.

// StudyResponse is a study as GET /v1/studies/{id} answers it.
type StudyResponse struct {
	Study    *ledger.StudyState        `json:"study"`
	Versions []ledger.StudyVersion     `json:"versions"`
	Reports  []ledger.StudyReportState `json:"reports"`
	// ConsentSummary is the plain-language summary a patient reads before
	// consenting to the study under the protocol in force (study.ConsentSummary).
	ConsentSummary string `json:"consent_summary,omitempty"`
	// Enrolments are the study's enrolments, each naming its patient by
	// the grant ID of their study consent.
	Enrolments []ledger.Enrolment `json:"enrolments,omitempty"`
	// Locks are the study's data locks (ledger/studylock.go).
	Locks []ledger.StudyLockState `json:"locks,omitempty"`
	// VisitLocks are its locked visits (ledger/studyvisit.go).
	VisitLocks []ledger.VisitLockState `json:"visit_locks,omitempty"`
}

// StudyConsent is a patient's consent in force to a study, as GET
// /v1/studies/{id}/consent?patient=P answers it: the patient, a delegate
// of theirs or a practitioner (a site enrolling them) learns the grant ID
// that names the patient in the study.
type StudyConsent struct {
	Study   string `json:"study"`
	Patient string `json:"patient"`
	Grant   string `json:"grant"`
}

func (s *server) studyConsentRead(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	id, patient := r.PathValue("id"), r.URL.Query().Get("patient")
	if caller.Kind != carechain.KindPractitioner && !v.ActsFor(caller, patient) {
		s.fail(w, http.StatusForbidden, fmt.Errorf("%s may not look up consents to study %s: the patient, their delegates and sites' practitioners do", caller.ID, id))
		return
	}
	grants, err := v.Grants(patient)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	for _, g := range grants {
		if g.Study == id && !g.Revoked {
			writeJSON(w, http.StatusOK, StudyConsent{Study: id, Patient: patient, Grant: g.ID})
			return
		}
	}
	s.fail(w, http.StatusNotFound, fmt.Errorf("%s has no consent in force to study %s: they consent with carechain consent grant --study %s", patient, id, id))
}

// StudyConsent finds patient's consent in force to study id.
func (c *Client) StudyConsent(ctx context.Context, id, patient string) (*StudyConsent, error) {
	var out StudyConsent
	if _, err := c.do(ctx, http.MethodGet, "/v1/studies/"+url.PathEscape(id)+"/consent?"+url.Values{"patient": {patient}}.Encode(), nil, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("%s has no consent in force to study %s (they consent with carechain consent grant --study %s)", patient, id, id)
		}
		return nil, err
	}
	return &out, nil
}

func (s *server) studyRead(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st, err := v.Study(id)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	out := StudyResponse{Study: st}
	if out.Versions, err = v.StudyVersions(id); err == nil {
		out.Reports, err = v.StudyReports(id)
	}
	if err == nil {
		out.Enrolments, err = v.Enrolments(id)
	}
	if err == nil {
		out.Locks, err = v.StudyLocks(id)
	}
	if err == nil {
		out.VisitLocks, err = v.VisitLocks(id)
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	for _, ver := range out.Versions {
		if ver.Version == st.Version && len(ver.Protocol.DataCategories) > 0 {
			out.ConsentSummary = ver.Protocol.ConsentSummary(st.ID, st.Title, st.Sponsor)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Study reads a study with its versions and reports.
func (c *Client) Study(ctx context.Context, id string) (*StudyResponse, error) {
	var out StudyResponse
	if _, err := c.do(ctx, http.MethodGet, "/v1/studies/"+url.PathEscape(id), nil, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("study %s is not registered", id)
		}
		return nil, err
	}
	return &out, nil
}

// studySubjectRead answers GET /v1/studies/{id}/subjects/{n}: subject n
// with its patient, for a practitioner of its enrolling site, who captures
// and locks its visits' data; to anyone else it is as if absent, since the
// patient is what the study's pseudonym hides.
func (s *server) studySubjectRead(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
	if err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("subject number %q: %w", r.PathValue("n"), err))
		return
	}
	sub, err := v.StudySubject(id, n)
	if err == nil && (caller.Kind != carechain.KindPractitioner || caller.Org != sub.Site) {
		err = fmt.Errorf("subject %s.%d is known to its enrolling site's practitioners: %w", id, n, ledger.ErrNotFound)
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

// StudySubject reads subject n of study id with its patient, as a
// practitioner of its enrolling site.
func (c *Client) StudySubject(ctx context.Context, id string, n uint64) (*ledger.Subject, error) {
	var out ledger.Subject
	path := "/v1/studies/" + url.PathEscape(id) + "/subjects/" + strconv.FormatUint(n, 10)
	if _, err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("study %s has no subject %s.%d that your organization enrolled", id, id, n)
		}
		return nil, err
	}
	return &out, nil
}
