package portal

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// The ethics board's page (/portal/studies/review), for the admins of an
// organization that is the ethics board of some study: each pending
// amendment with its reason and what it changes (study.Diff, kept with the
// version), to approve or reject with a reason, as `carechain study
// decide`. The sponsor's page is in studysponsor.go.

// studyBoardPage is the ethics board's page's data.
type studyBoardPage struct {
	Pending     []boardAmendment
	Decided     []boardAmendment
	Done, Error string
}

// boardAmendment is an amendment of a study the board oversees.
type boardAmendment struct {
	Title   string
	Sponsor string
	ledger.StudyVersion
}

// boardOnly is the board's page's refusal of anyone else.
const boardOnly = "This page is for the admins of a study's ethics board."

func (p *Portal) studyBoardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/studies/review", p.secured(p.signedIn(p.allowed(boardAdmin, boardOnly, p.studyReview))))
	mux.HandleFunc("POST /portal/studies/decide", p.secured(p.posted(p.signedIn(p.allowed(boardAdmin, boardOnly, p.studyDecide)))))
}

// boardAdmin reports whether pr is an admin of the ethics board of some
// registered study.
func boardAdmin(v *ledger.View, pr *carechain.Principal) bool {
	if pr == nil || pr.Kind != carechain.KindAdmin {
		return false
	}
	all, err := v.Studies()
	return err == nil && slices.ContainsFunc(all, func(st ledger.StudyState) bool { return st.EthicsBoard == pr.Org })
}

func (p *Portal) studyReview(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderReview(w, r, s, http.StatusOK, studyBoardPage{})
}

// studyDecide approves or rejects the form's amendment, signed with the
// admin's key, as `carechain study decide` does.
func (p *Portal) studyDecide(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	version, _ := strconv.ParseUint(r.PostForm.Get("version"), 10, 64)
	d := tx.StudyDecide{Study: r.PostForm.Get("study"), Version: version, Approved: r.PostForm.Get("decision") == "approve",
		Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	page := studyBoardPage{}
	err := p.records.DecideStudy(r.Context(), signer, d)
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal study decision", "principal", s.who.ID, "study", d.Study, "version", d.Version, "approved", d.Approved)
		what := "Rejected"
		if d.Approved {
			what = "Approved"
		}
		page.Done = fmt.Sprintf("%s amendment %d of study %s.", what, d.Version, d.Study)
		if d.Approved {
			page.Done += " It is the protocol in force from now on."
		}
	}
	p.renderReview(w, r, s, status, page)
}

func (p *Portal) renderReview(w http.ResponseWriter, r *http.Request, s *session, status int, page studyBoardPage) {
	v := p.app.Latest()
	all, err := v.Studies()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, st := range all {
		if st.EthicsBoard != s.who.Org {
			continue
		}
		vs, err := v.StudyVersions(st.ID)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		for _, ver := range vs {
			a := boardAmendment{Title: st.Title, Sponsor: principalOrg(v, st.Sponsor), StudyVersion: ver}
			switch {
			case ver.Status == ledger.StudyPending:
				page.Pending = append(page.Pending, a)
			case ver.Version > 1:
				page.Decided = append(page.Decided, a)
			}
		}
	}
	p.render(w, s, status, "studyreview", "Study amendments", page)
}

// principalOrg names organization id for people.
func principalOrg(v *ledger.View, id string) string {
	if o, err := v.Organization(id); err == nil && o.Name != "" {
		return o.Name + " (" + id + ")"
	}
	return id
}
