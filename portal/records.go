package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// chartPage is a patient's records for people: the timeline by day, a
// chart per measured code, and the categories to filter by.
type chartPage struct {
	Patient    string
	Self       bool // the patient reads their own
	Category   string
	Categories []string
	Days       []day
	Charts     []chart
	Count      int
	Emergency  bool // read for purpose emergency (break-glass)
	// SecondOpinion: read for purpose second-opinion (?purpose=second-opinion).
	SecondOpinion bool
	Short         string // the patient's short ID, for the chart's links
	Done          string // what a write just did (?written=)
}

// readChart reads what requester may read of patient's records through
// records.Service.ReadPatient (consent-checked; every attempt is an access
// event) for purpose of use, and renders it, keeping category only if one
// is given.
func (p *Portal) readChart(ctx context.Context, requester, patient, category string, use consent.Purpose) (chartPage, error) {
	page := chartPage{Patient: patient, Self: requester == patient, Category: category, Emergency: use == consent.PurposeEmergency,
		SecondOpinion: use == consent.PurposeSecondOpinion, Short: strings.TrimPrefix(patient, carechain.PatientPrefix)}
	recs, err := p.records.ReadPatient(ctx, records.Query{Requester: requester, Patient: patient, Purpose: use,
		Keep: func(h *carechain.RecordHead) bool { return !h.Deleted && h.ResourceType != records.MessageType }}) // messages: messages.go
	if err != nil {
		return page, err
	}
	v := p.app.Latest()
	label := func(id string) string { return principalLabel(v, id) }
	var cards []card
	for _, rec := range recs {
		c, err := cardOf(rec, label)
		clear(rec.Resource)
		if err != nil {
			return page, err
		}
		if !slices.Contains(page.Categories, c.Category) {
			page.Categories = append(page.Categories, c.Category)
		}
		if !page.Self && use == purpose && !rec.PatientAuthored() {
			c.Correct = "/portal/patients/" + page.Short + "/correct/" + c.RecordID
		}
		if category == "" || c.Category == category {
			cards = append(cards, c)
		}
	}
	slices.Sort(page.Categories)
	page.Count = len(cards)
	page.Charts = charts(cards)
	page.Days = timeline(cards)
	return page, nil
}

// timeline is the signed-in patient's own records.
func (p *Portal) timeline(w http.ResponseWriter, r *http.Request, s *session) {
	page, err := p.readChart(r.Context(), s.who.ID, s.who.ID, r.URL.Query().Get("category"), purpose)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	p.render(w, s, http.StatusOK, "records", "My records", page)
}

// raw is one record's FHIR JSON, as the FHIR API would serve it to the
// same person (records.Service.Read: consent-checked and logged).
func (p *Portal) raw(w http.ResponseWriter, r *http.Request, s *session) {
	out, ok := p.readIndented(w, r, s, r.PathValue("id"), 0)
	if !ok {
		return
	}
	defer clear(out.Bytes())
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	out.WriteTo(w)
}

// readIndented reads version (0: the latest) of record id for the
// signed-in person (records.Service.Read: consent-checked and logged) as
// indented JSON, which the caller clears; or answers the error.
func (p *Portal) readIndented(w http.ResponseWriter, r *http.Request, s *session, id string, version uint64) (*bytes.Buffer, bool) {
	rec, err := p.records.Read(r.Context(), s.who.ID, id, version, purpose)
	if err != nil {
		p.failErr(w, r, s, err)
		return nil, false
	}
	defer clear(rec.Resource)
	var out bytes.Buffer
	if err := json.Indent(&out, rec.Resource, "", "  "); err != nil {
		p.failErr(w, r, s, err)
		return nil, false
	}
	return &out, true
}

// failErr answers an error of a service with the status of its kind and a
// page that says what people can act on; a refusal gives its reason.
func (p *Portal) failErr(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var denied *records.DeniedError
	kind := carechain.KindOf(err)
	switch {
	case errors.As(err, &denied):
		p.fail(w, r, s, http.StatusForbidden, "Access refused: "+denied.Reason+". The attempt is in the patient's access log.")
	case kind == carechain.KindNotFound:
		p.fail(w, r, s, http.StatusNotFound, "There is no such record.")
	case kind == carechain.KindUnavailable:
		p.fail(w, r, s, http.StatusServiceUnavailable, "The node cannot serve health data now (its access log is behind). Try again shortly.")
	default:
		p.logger.Warn("portal request failed", "path", r.URL.Path, "err", err) // errors name IDs and codes, never health data
		p.fail(w, r, s, kind.Status(), "The request failed: "+err.Error())
	}
}
