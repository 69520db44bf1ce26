package fhirrest

import (
	"bytes"
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

// Bulk export (FHIR Bulk Data, patient level): a kick-off answers 202 with a
// status URL; the status answers with a manifest of ndjson files, one per
// resource type. Files are kept in memory only (they hold plaintext health
// data), for the caller alone, and expire after exportTTL.

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

func (s *server) exportKickoff(w http.ResponseWriter, r *http.Request, c caller) {
	if !strings.Contains(r.Header.Get("Prefer"), "respond-async") {
		s.fail(w, http.StatusBadRequest, "value", errors.New("bulk export needs the header Prefer: respond-async"))
		return
	}
	var patients []string
	if strings.HasPrefix(r.URL.Path, "/fhir/Group/") {
		// Group/{org}: the patients an organization registered (its panel).
		if _, err := c.view.Organization(r.PathValue("id")); err != nil {
			s.fail(w, http.StatusNotFound, "not-found", fmt.Errorf("Group/%s not found (a group is an organization's patients)", r.PathValue("id")))
			return
		}
		ps, err := c.view.Principals(r.PathValue("id"))
		if err != nil {
			s.failErr(w, err)
			return
		}
		for _, p := range ps {
			if p.Kind == carechain.KindPatient {
				patients = append(patients, p.ID)
			}
		}
	} else {
		patient, ok := patientOf("Patient/" + r.PathValue("id"))
		if !ok {
			s.fail(w, http.StatusBadRequest, "value", errors.New("bad patient id"))
			return
		}
		patients = []string{patient}
	}
	var types []string
	if t := r.URL.Query().Get("_type"); t != "" {
		types = strings.Split(t, ",")
	}
	var heads []carechain.RecordHead
	for _, patient := range patients {
		hs, err := c.view.PatientRecords(patient)
		if err != nil {
			s.failErr(w, err)
			return
		}
		heads = append(heads, hs...)
	}
	job := &exportJob{owner: c.principal.ID, created: s.Now(), request: strings.TrimRight(s.BaseURL, "/") + r.URL.RequestURI(),
		files: map[string][]byte{}, counts: map[string]int{}}
	var denied *records.DeniedError
	for _, h := range heads {
		if h.Deleted || (types != nil && !slices.Contains(types, h.ResourceType)) {
			continue
		}
		rec, err := s.Records.Read(r.Context(), c.principal.ID, h.RecordID, 0, c.purpose)
		if errors.As(err, &denied) {
			continue
		}
		if err != nil {
			s.failErr(w, err)
			return
		}
		body, err := withMeta(rec)
		if err != nil {
			s.failErr(w, err)
			return
		}
		var line bytes.Buffer
		line.Write(body)
		line.WriteByte('\n')
		job.files[h.ResourceType] = append(job.files[h.ResourceType], line.Bytes()...)
		job.counts[h.ResourceType]++
	}
	if len(job.files) == 0 && len(heads) > 0 {
		reason := "no consent allows exporting these records"
		if denied != nil {
			reason = denied.Reason
		}
		s.fail(w, http.StatusForbidden, "forbidden", fmt.Errorf("bulk export for purpose %s: %s", c.purpose, reason))
		return
	}
	id := s.exports.put(job, s.Now())
	w.Header().Set("Content-Location", fmt.Sprintf("%s/fhir/$export-status/%s", strings.TrimRight(s.BaseURL, "/"), id))
	w.WriteHeader(http.StatusAccepted)
}

func (s *server) exportStatus(w http.ResponseWriter, r *http.Request, c caller) {
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
			"url": fmt.Sprintf("%s/fhir/$export-file/%s?type=%s", strings.TrimRight(s.BaseURL, "/"), r.PathValue("job"), t)})
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
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Write(b)
}
