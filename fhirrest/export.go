package fhirrest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Bulk export (FHIR Bulk Data 2.0) at system (/fhir/$export), Patient-type
// (/fhir/Patient/$export), patient (/fhir/Patient/{id}/$export) and group
// (/fhir/Group/{org}/$export) level: a kick-off answers 202 with a status
// URL; the status answers with a manifest of ndjson files, one per
// resource type; DELETE of the status URL ends the job and drops its
// files. Every resource here is a patient's, so the system and Patient-type
// levels export the patients the caller may see: itself for a patient, its
// organization's panel for staff. _type (known types), _since (versions
// updated at or after it, chosen before anything is decrypted) and
// _outputFormat (ndjson only) are honoured; anything else is a 400. Files
// are kept in memory only (they hold plaintext health data), for the
// caller alone, and expire after exportTTL.

const exportTTL = time.Hour

type exportJob struct {
	owner   string
	created time.Time
	request string
	files   map[string][]byte // resource type -> ndjson
	counts  map[string]int
}

type exports struct {
	mu   sync.Mutex
	jobs map[string]*exportJob
}

func (e *exports) put(j *exportJob, now time.Time) string {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, old := range e.jobs {
		if now.Sub(old.created) > exportTTL {
			delete(e.jobs, k)
		}
	}
	e.jobs[id] = j
	return id
}

func (e *exports) get(id, owner string, now time.Time) (*exportJob, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok || j.owner != owner || now.Sub(j.created) > exportTTL {
		return nil, false
	}
	return j, true
}

// exportKickoff serves GET /fhir/Patient/{id}/$export and
// /fhir/Group/{id}/$export: it exports at once, and answers 202 with the URL
// of the job's status.
func (s *server) exportKickoff(w http.ResponseWriter, r *http.Request, c caller) {
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		s.fail(w, http.StatusBadRequest, "value", errors.New("bulk export needs the header Prefer: respond-async"))
		return
	}
	eq, err := exportQueryOf(r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	patients, err := exportPatients(r, c)
	if err != nil {
		s.failErr(w, err)
		return
	}
	job := &exportJob{owner: c.principal.ID, created: s.Now(), request: s.abs(r.URL.RequestURI()),
		files: map[string][]byte{}, counts: map[string]int{}}
	exportable, err := s.collect(r.Context(), c, job, patients, eq)
	if err == nil && len(job.files) == 0 {
		err = nothingReadable(r, c, patients, exportable)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	id := s.exports.put(job, s.Now())
	w.Header().Set("Content-Location", s.abs("/fhir/$export-status/"+id))
	w.WriteHeader(http.StatusAccepted)
}

// exportPatients are the patients an export is of: Patient/{id} is one, and
// Group/{org} the patients an organization registered (its panel).
func exportPatients(r *http.Request, c caller) ([]string, error) {
	id := r.PathValue("id")
	if id == "" { // system or Patient-type level: the caller, or its organization's panel
		if c.principal.Kind == carechain.KindPatient {
			return []string{c.principal.ID}, nil
		}
		id = c.principal.Org
	} else if !strings.HasPrefix(r.URL.Path, "/fhir/Group/") {
		patient, err := patientNamed(c, id)
		if err != nil {
			return nil, err
		}
		return []string{patient}, nil
	}
	if _, err := c.view.Organization(id); err != nil {
		return nil, fmt.Errorf("Group/%s (a group is an organization's patients): %w", id, err)
	}
	ps, err := c.view.Principals(id)
	if err != nil {
		return nil, err
	}
	var patients []string
	for _, p := range ps {
		if p.Kind == carechain.KindPatient {
			patients = append(patients, p.ID)
		}
	}
	return patients, nil
}

// collect adds to job the live records of patients, of types if any, that
// the caller may read, and returns how many there were to export.
func (s *server) collect(ctx context.Context, c caller, job *exportJob, patients []string, eq everythingQuery) (int, error) {
	exportable := 0
	for _, patient := range patients {
		recs, err := s.Records.ReadPatient(ctx, c.query(patient, func(h *carechain.RecordHead) bool {
			if !eq.keeps(c, h) {
				return false
			}
			exportable++
			return true
		}))
		if err != nil {
			return exportable, err
		}
		if c.deid != nil {
			c.deid.exportLearn(patient, recs)
		}
		for i := range recs {
			body, err := withMeta(&recs[i])
			if err == nil && c.deid != nil { // one key for the whole export: its files reference each other
				body, err = c.deid.resource(ctx, body)
			}
			if err != nil {
				return exportable, err
			}
			t := recs[i].ResourceType
			job.files[t] = append(append(job.files[t], body...), '\n')
			job.counts[t]++
		}
	}
	return exportable, nil
}

// nothingReadable is the answer to an export that found nothing the caller
// may read (each refusal, with its reason, is in the patient's access log).
// A patient's export, unless the caller is the patient, answers as for a
// patient that does not exist: it tells nothing of their records. A group's
// (an organization's patients, a public list) is refused if there were
// records, without saying how many.
func nothingReadable(r *http.Request, c caller, patients []string, exportable int) error {
	if r.PathValue("id") == "" {
		return nil // the caller's own or its organization's: an empty export is an answer
	}
	if !strings.HasPrefix(r.URL.Path, "/fhir/Group/") {
		if c.principal.ID == patients[0] {
			return nil
		}
		return notFound("Patient")
	}
	if exportable == 0 {
		return nil
	}
	return &records.DeniedError{Reason: fmt.Sprintf("bulk export for purpose %s: no grant lets %s read any record of Group/%s",
		c.purpose, c.principal.ID, r.PathValue("id"))}
}

func (s *server) exportStatus(w http.ResponseWriter, r *http.Request, c caller) {
	c.deid.markHandled() // a manifest: no patient data
	job, ok := s.exports.get(r.PathValue("job"), c.principal.ID, s.Now())
	if !ok {
		s.fail(w, http.StatusNotFound, "not-found", errors.New("no such export job for this caller"))
		return
	}
	var types []string
	for t := range job.files {
		types = append(types, t)
	}
	slices.Sort(types)
	output := []map[string]any{}
	for _, t := range types {
		output = append(output, map[string]any{"type": t, "count": job.counts[t],
			"url": s.abs(fmt.Sprintf("/fhir/$export-file/%s?type=%s", r.PathValue("job"), t))})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"transactionTime": job.created.UTC().Format(time.RFC3339), "request": job.request,
		"requiresAccessToken": true, "output": output, "error": []any{},
	})
}

func (s *server) exportFile(w http.ResponseWriter, r *http.Request, c caller) {
	job, ok := s.exports.get(r.PathValue("job"), c.principal.ID, s.Now())
	if !ok {
		s.fail(w, http.StatusNotFound, "not-found", errors.New("no such export job for this caller"))
		return
	}
	b, ok := job.files[r.URL.Query().Get("type")]
	if !ok {
		s.fail(w, http.StatusNotFound, "not-found", errors.New("no such file in this export"))
		return
	}
	c.deid.markHandled() // de-identified when the export was made, if it was a research export
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Write(b)
}

// exportQueryOf reads an export kick-off's parameters: _type and _since as
// $everything reads them, _outputFormat ndjson only.
func exportQueryOf(r *http.Request) (everythingQuery, error) {
	q := r.URL.Query()
	if f := q.Get("_outputFormat"); f != "" && f != "application/fhir+ndjson" && f != "application/ndjson" && f != "ndjson" {
		return everythingQuery{}, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("_outputFormat %q: only ndjson (application/fhir+ndjson)", f)}
	}
	q.Del("_outputFormat")
	for k := range q {
		if k != "_type" && k != "_since" {
			return everythingQuery{}, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("export parameter %q is not supported (use _type, _since, _outputFormat)", k)}
		}
	}
	return everythingQueryOf(q)
}

// exportCancel serves DELETE of an export's status URL: the job ends and
// its files are dropped (202); another caller's job is a 404.
func (s *server) exportCancel(w http.ResponseWriter, r *http.Request, c caller) {
	if !s.exports.drop(r.PathValue("job"), c.principal.ID) {
		s.fail(w, http.StatusNotFound, "not-found", errors.New("no such export job for this caller"))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// drop removes owner's job id; false if there is none.
func (e *exports) drop(id, owner string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok || j.owner != owner {
		return false
	}
	delete(e.jobs, id)
	return true
}
