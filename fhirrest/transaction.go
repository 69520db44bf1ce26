package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

type requestBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Request  struct {
			Method string `json:"method"`
			URL    string `json:"url"`
		} `json:"request"`
	} `json:"entry"`
}

// bundleItem is a write entry of a Bundle, resolved.
type bundleItem struct {
	typ, id string
	body    []byte
	info    resourceInfo
	status  string
}

// transaction serves POST /fhir with a transaction Bundle (all entries in
// one ledger transaction, or none) or a batch Bundle (each on its own).
func (s *server) transaction(w http.ResponseWriter, r *http.Request, c caller) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		s.fail(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Errorf("request body over %d bytes", MaxBody))
		return
	}
	var bundle requestBundle
	if err := json.Unmarshal(b, &bundle); err != nil || bundle.ResourceType != "Bundle" {
		s.fail(w, http.StatusBadRequest, "structure", errors.New("POST /fhir takes a Bundle of type transaction or batch"))
		return
	}
	if bundle.Type != "transaction" && bundle.Type != "batch" {
		s.fail(w, http.StatusBadRequest, "value", fmt.Errorf("bundle type %q: want transaction or batch", bundle.Type), "Bundle.type")
		return
	}
	if len(bundle.Entry) == 0 || len(bundle.Entry) > 100 {
		s.fail(w, http.StatusBadRequest, "value", errors.New("a bundle holds 1-100 entries"), "Bundle.entry")
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	items := make([]bundleItem, len(bundle.Entry))
	errs := make([]error, len(bundle.Entry))
	for i, e := range bundle.Entry {
		items[i], errs[i] = s.resolveEntry(r, e.Request.Method, e.Request.URL, e.Resource)
	}
	if bundle.Type == "transaction" {
		s.commitTransaction(w, r, c, signer, items, errs)
		return
	}
	out := map[string]any{"resourceType": "Bundle", "type": "batch-response"}
	var entries []responseEntry
	for i, it := range items {
		var re responseEntry
		if errs[i] == nil {
			var res records.PutResult
			res, errs[i] = s.Records.Put(r.Context(), signer, it.putItem(r))
			if errs[i] == nil {
				re.Response.Status, re.Response.Location, re.Response.Etag = it.status, s.location(it.typ, it.id, res.Version), etag(res.Version)
			}
		}
		if errs[i] != nil {
			status, oo := outcomeOf(errs[i])
			re.Response.Status, re.Response.Outcome = fmt.Sprintf("%d %s", status, http.StatusText(status)), oo
		}
		entries = append(entries, re)
	}
	out["entry"] = entries
	writeFHIR(w, http.StatusOK, out)
}

func (s *server) commitTransaction(w http.ResponseWriter, r *http.Request, c caller, signer records.Signer, items []bundleItem, errs []error) {
	var puts []records.PutItem
	for i, it := range items {
		if errs[i] != nil {
			s.failEntry(w, i, errs[i])
			return
		}
		puts = append(puts, it.putItem(r))
	}
	res, err := s.Records.PutBatch(r.Context(), signer, puts)
	if err != nil {
		s.failEntry(w, -1, err)
		return
	}
	var entries []responseEntry
	for i, it := range items {
		var re responseEntry
		re.Response.Status, re.Response.Location, re.Response.Etag = it.status, s.location(it.typ, it.id, res[i].Version), etag(res[i].Version)
		entries = append(entries, re)
	}
	writeFHIR(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
}

// failEntry fails a transaction for entry i (-1: the transaction as a whole).
func (s *server) failEntry(w http.ResponseWriter, i int, err error) {
	if i >= 0 {
		err = fmt.Errorf("entry %d: %w", i, err)
	}
	s.failErr(w, err)
}

// resolveEntry checks one write entry of a Bundle.
func (s *server) resolveEntry(r *http.Request, method, rawURL string, resource json.RawMessage) (bundleItem, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return bundleItem{}, fmt.Errorf("%w: request.url %q", errBadEntry, rawURL)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	it := bundleItem{typ: parts[0]}
	switch {
	case method == http.MethodPost && len(parts) == 1:
		it.id, it.status = records.NewRecordID(), "201 Created"
	case method == http.MethodPut && len(parts) == 2:
		it.id, it.status = parts[1], "200 OK"
	default:
		return it, fmt.Errorf("%w: only POST {type} and PUT {type}/{id} entries are supported, got %s %s", errBadEntry, method, rawURL)
	}
	if _, ok := clinicalTypes[it.typ]; !ok || it.typ == "Patient" && method == http.MethodPost {
		return it, fmt.Errorf("%w: %v", errBadEntry, notSupported(it.typ))
	}
	if err := json.Unmarshal(resource, &it.info); err != nil || it.info.ResourceType != it.typ {
		return it, fmt.Errorf("%w: resource is not a %s", errBadEntry, it.typ)
	}
	if it.typ == "Patient" {
		it.info.Subject = &reference{Reference: "Patient/" + it.id}
	}
	if _, ok := it.patientRef(); !ok {
		return it, fmt.Errorf("%w: %s needs a subject or patient reference Patient/<id>", errBadEntry, it.typ)
	}
	if it.body, err = withID(resource, it.id); err != nil {
		return it, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	return it, nil
}

var errBadEntry = carechain.NewError(carechain.KindMalformed, "invalid bundle entry")

func (it bundleItem) patientRef() (string, bool) {
	ref := it.info.Subject
	if ref == nil {
		ref = it.info.Patient
	}
	if ref == nil {
		return "", false
	}
	return patientOf(ref.Reference)
}

// putItem is the record version the entry writes.
func (it bundleItem) putItem(r *http.Request) records.PutItem {
	p, _ := it.patientRef()
	return records.PutItem{Patient: p, Category: categoryOf(r, it.typ, it.info), RecordID: it.id, Resource: it.body}
}
