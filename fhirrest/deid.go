package fhirrest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/deid"
	"github.com/carechain/carechain/records"
)

// Research answers are de-identified (package deid). Every answer to a
// researcher (a principal with the researcher role, or any request whose
// purpose of use is research) passes through deidentify: its resources, in
// a Bundle or alone, leave by HIPAA Safe Harbor with pseudonyms from a key
// made for that answer and then dropped, or, when the request names a
// study (StudyParam), with the study's key, so the study's pseudonyms are
// the same in every answer. A patient's resources leave identified only
// when a grant of theirs that matches the researcher says so
// (consent.Grant.Identified). What cannot be de-identified (a raw Binary
// that is not FHIR JSON) is refused; an OperationOutcome (the server's own
// words) passes as it is. Bulk export de-identifies its files when it makes
// them (export.go), with one key for the whole export.

// StudyParam names the study whose pseudonyms a research request wants:
// ?_study=<id> on any read, search, $everything or $export. Its key is
// deid.StudyKey(Options.DeidSecret, id).
const StudyParam = "_study"

// studyID is what a study id may be: a FHIR id.
var studyID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// answerDeid de-identifies one answer to a researcher.
type answerDeid struct {
	s     *server
	c     caller
	opts  deid.Options
	known map[string]*deid.Known // by patient principal
	ident map[string]bool        // by patient principal: identified by the patient's grant
	read  map[string]bool        // by patient principal: their Patient resources were read for known
	// handled is set by a handler whose answer holds no patient data or
	// was de-identified already (an export's status and files).
	handled bool
}

// isResearch reports whether c's answers are de-identified.
func isResearch(c caller) bool {
	return c.purpose == consent.PurposeResearch || c.principal.HasRole(carechain.RoleResearcher)
}

// researchAnswer is the de-identifier of r's answer to c, and r without
// StudyParam; nil for a caller who is not doing research.
func (s *server) researchAnswer(r *http.Request, c caller) (*answerDeid, *http.Request, error) {
	q := r.URL.Query()
	study, named := q.Get(StudyParam), q.Has(StudyParam)
	if !isResearch(c) {
		if named {
			return nil, r, badParam(fmt.Errorf("%s is for research requests (the researcher role or X-Purpose-Of-Use: research)", StudyParam))
		}
		return nil, r, nil
	}
	a := &answerDeid{s: s, c: c, known: map[string]*deid.Known{}, ident: map[string]bool{}, read: map[string]bool{},
		opts: deid.Options{Mode: deid.SafeHarbor, Key: make([]byte, deid.KeySize), Now: s.Now()}}
	rand.Read(a.opts.Key)
	if named {
		switch {
		case !studyID.MatchString(study):
			return nil, r, badParam(fmt.Errorf("%s %q: want a study id of 1-64 letters, digits, '-' or '.'", StudyParam, study))
		case len(s.DeidSecret) == 0:
			return nil, r, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: errors.New("this node has no study secret: per-study pseudonyms are off")}
		}
		a.opts.Mode, a.opts.Key = deid.Pseudonymized, deid.StudyKey(s.DeidSecret, study)
		q.Del(StudyParam)
		r2 := r.Clone(r.Context())
		r2.URL.RawQuery = q.Encode()
		r = r2
	}
	return a, r, nil
}

func badParam(err error) error {
	return &requestError{kind: carechain.KindMalformed, code: "value", err: err}
}

// serve runs h for c, through de-identification when c does research.
func (s *server) serve(w http.ResponseWriter, r *http.Request, c caller, h func(http.ResponseWriter, *http.Request, caller)) {
	a, r, err := s.researchAnswer(r, c)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if a == nil {
		h(w, r, c)
		return
	}
	c.deid = a
	a.c = c
	buf := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	h(buf, r, c)
	body, err := a.body(r.Context(), buf)
	if err != nil {
		s.failErr(w, err)
		return
	}
	for k, v := range buf.header {
		if k != "Last-Modified" && k != "Content-Length" { // Last-Modified: a date of the patient's care
			w.Header()[k] = v
		}
	}
	w.WriteHeader(buf.status)
	w.Write(body)
}

// bufferedWriter keeps an answer for de-identification.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedWriter) WriteHeader(status int)      { b.status = status }

// errNotDeidentifiable refuses an answer a researcher may not have as it is.
var errNotDeidentifiable = carechain.E(carechain.KindPermission,
	errors.New("this answer cannot be de-identified (only FHIR JSON can): research access is de-identified unless the patient's consent says identified"))

// body is the de-identified body of an answer.
func (a *answerDeid) body(ctx context.Context, b *bufferedWriter) ([]byte, error) {
	raw := b.body.Bytes()
	if a.handled || len(bytes.TrimSpace(raw)) == 0 {
		return raw, nil
	}
	if !isFHIRJSON(mediaType(b.header.Get("Content-Type"))) && mediaType(b.header.Get("Content-Type")) != "application/json" {
		return nil, errNotDeidentifiable
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errNotDeidentifiable
	}
	switch m["resourceType"] {
	case "OperationOutcome":
		return raw, nil
	case "Bundle":
		if err := a.bundle(ctx, m); err != nil {
			return nil, err
		}
		return json.Marshal(m)
	case nil:
		return nil, errNotDeidentifiable
	}
	return a.resource(ctx, raw)
}

// bundle de-identifies a Bundle's entries in place: their resources, and
// the URLs that would name the resources' real ids.
func (a *answerDeid) bundle(ctx context.Context, m map[string]any) error {
	entries := asMaps(m["entry"])
	for _, e := range entries { // learn the patients' own identifiers before scrubbing anything
		if res, ok := e["resource"].(map[string]any); ok && res["resourceType"] == "Patient" {
			raw, _ := json.Marshal(res)
			a.learn(patientOfJSON(res), raw)
		}
	}
	for _, e := range entries {
		res, ok := e["resource"].(map[string]any)
		delete(e, "fullUrl")
		if resp, ok := e["response"].(map[string]any); ok {
			delete(resp, "location")
			delete(resp, "lastModified")
		}
		if !ok {
			continue
		}
		if res["resourceType"] == "Bundle" {
			if err := a.bundle(ctx, res); err != nil {
				return err
			}
			continue
		}
		raw, _ := json.Marshal(res)
		out, err := a.resource(ctx, raw)
		if err != nil {
			return err
		}
		var d map[string]any
		if err := json.Unmarshal(out, &d); err != nil {
			return err
		}
		e["resource"] = d
		typ, _ := d["resourceType"].(string)
		id, _ := d["id"].(string)
		e["fullUrl"] = a.s.fullURL(typ, id)
		if req, ok := e["request"].(map[string]any); ok && req["method"] != "POST" {
			req["url"] = typ + "/" + id
		}
	}
	return nil
}

func asMaps(v any) []map[string]any {
	var out []map[string]any
	for _, e := range asSlice(v) {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// resource de-identifies one resource (JSON), unless its patient's consent
// lets this researcher have it identified.
func (a *answerDeid) resource(ctx context.Context, raw []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errNotDeidentifiable
	}
	patient := patientOfJSON(m)
	if patient != "" && a.identified(patient) {
		return raw, nil
	}
	if m["resourceType"] == "Patient" && patient != "" { // its own identifiers: no read needed
		a.learn(patient, raw)
		a.read[patient] = true
	}
	o := a.opts
	o.Known = a.knownOf(ctx, patient)
	out, err := deid.Resource(raw, o)
	if err != nil {
		return nil, fmt.Errorf("de-identify a %v: %w", m["resourceType"], err)
	}
	return out, nil
}

// patientOfResource is the patient principal a resource is of: a Patient's
// own, or its subject's, patient's or beneficiary's; "" if none is named.
func patientOfJSON(m map[string]any) string {
	if m["resourceType"] == "Patient" {
		id, _ := m["id"].(string)
		p, _ := patientOf("Patient/" + id)
		return p
	}
	for _, k := range []string{"subject", "patient", "beneficiary"} {
		ref, _ := m[k].(map[string]any)
		if s, ok := ref["reference"].(string); ok && strings.HasPrefix(s, "Patient/") {
			p, _ := patientOf(s)
			return p
		}
	}
	return ""
}

// learn adds a Patient resource's identifiers to what is scrubbed from
// the free text of patient's resources.
func (a *answerDeid) learn(patient string, patientJSON ...[]byte) {
	if patient == "" {
		return
	}
	k := a.known[patient]
	if k == nil {
		k = &deid.Known{}
		a.known[patient] = k
	}
	k.Merge(deid.KnownFrom(patientJSON...))
	if id := strings.TrimPrefix(patient, carechain.PatientPrefix); len(id) >= minScrubbedID {
		k.Add(id) // the patient's FHIR id, in a note or a narrative
	}
}

// minScrubbedID keeps short ids out of the scrubbed strings: an id of one
// to three letters would take common words with it.
const minScrubbedID = 4

// knownOf is what identifies patient, from the Patient resources the
// researcher may read (read once per answer, each read in the patient's
// access log) and any this answer holds.
func (a *answerDeid) knownOf(ctx context.Context, patient string) *deid.Known {
	if patient == "" {
		return nil
	}
	if !a.read[patient] {
		a.read[patient] = true
		recs, err := a.s.Records.ReadPatient(ctx, a.c.query(patient, live("Patient")))
		if err == nil {
			for i := range recs {
				a.learn(patient, recs[i].Resource)
			}
		}
	}
	return a.known[patient]
}

// identified reports whether patient has a live grant matching the caller
// that says research access may be identified.
func (a *answerDeid) identified(patient string) bool {
	if v, ok := a.ident[patient]; ok {
		return v
	}
	grants, err := a.c.view.Grants(patient)
	now := a.s.Now().Unix()
	yes := false
	for _, g := range grants {
		if err == nil && g.Identified && !g.Revoked && g.NotBefore <= now && (g.NotAfter == 0 || now < g.NotAfter) &&
			g.Grantee.Matches(a.c.principal) && slices.Contains(g.Purposes, consent.PurposeResearch) {
			yes = true
		}
	}
	a.ident[patient] = yes
	return yes
}

// exportLearn adds the identifiers of an export's Patient records of one
// patient, before its other records are de-identified.
// An export without its Patient (_type) reads it for that (knownOf).
func (a *answerDeid) exportLearn(patient string, recs []records.Record) {
	for i := range recs {
		if recs[i].ResourceType == "Patient" {
			a.learn(patient, recs[i].Resource)
			a.read[patient] = true
		}
	}
}

// markHandled says the answer needs no more de-identification; a nil
// answerDeid (not research) has nothing to mark.
func (a *answerDeid) markHandled() {
	if a != nil {
		a.handled = true
	}
}
