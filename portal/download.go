package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tlog"
)

// "Download everything": one JSON document (format DownloadFormat) with
// every record the patient may read — read as Patient/$everything reads
// (records.Service.ReadPatient: each read in the access log) — as a FHIR R4
// Bundle of type collection, and the proof bundle of each record's latest
// version (the one the version-history page checks in the browser; each
// through records.MayProve, logged). Proofs take a query of the chain per
// record, so the document is prepared in the background while a page shows
// how far it got (static/portal.js reloads it; without script, a link
// does). The document lives only in this node's memory, for the patient's
// session, for at most downloadTTL; it is never written to disk.

// DownloadFormat names the download's layout:
//
//	{"format": "carechain-download/1", "patient": "patient/…", "created": RFC 3339,
//	 "bundle": FHIR Bundle (type collection) of the records, meta.versionId and meta.lastUpdated set,
//	 "proofs": [{"record": id, "version": n, "log_key": "id/n", "proof": proof bundle (carechain proof)}]}
const DownloadFormat = "carechain-download/1"

const (
	// downloadTTL is how long a prepared download is kept.
	downloadTTL = 10 * time.Minute
	// maxDownloads bounds the downloads kept at once on this node.
	maxDownloads = 64
	// downloadTimeout bounds the preparation of one.
	downloadTimeout = 5 * time.Minute
)

// download is one prepared (or preparing) document.
type download struct {
	id, patient string
	created     time.Time
	mu          sync.Mutex
	done, total int
	doc         []byte // set when ready
	err         error
}

// downloads are the documents of this node's patients, by ID.
type downloads struct {
	mu   sync.Mutex
	byID map[string]*download
}

func (ds *downloads) add(d *download, now time.Time) bool {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.byID == nil {
		ds.byID = map[string]*download{}
	}
	for id, old := range ds.byID {
		if now.Sub(old.created) > downloadTTL || old.patient == d.patient {
			clear(old.doc)
			delete(ds.byID, id)
		}
	}
	if len(ds.byID) >= maxDownloads {
		return false
	}
	ds.byID[d.id] = d
	return true
}

func (ds *downloads) get(id, patient string, now time.Time) *download {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d, ok := ds.byID[id]
	if !ok || d.patient != patient || now.Sub(d.created) > downloadTTL {
		return nil
	}
	return d
}

// downloadPage is the page before, during and after preparation.
type downloadPage struct {
	ID, Format  string
	Done, Total int
	Ready       bool
	Problem     string
}

func (p *Portal) downloadPage(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, s, http.StatusOK, "download", "Download everything", downloadPage{Format: DownloadFormat})
}

// startDownload starts preparing the patient's document and sends the
// browser to its progress page.
func (p *Portal) startDownload(w http.ResponseWriter, r *http.Request, s *session) {
	if p.proofs == nil {
		p.fail(w, r, s, http.StatusNotImplemented, "This node serves no proofs, so it cannot prepare a download with them.")
		return
	}
	d := &download{id: randomToken(), patient: s.who.ID, created: p.now()}
	if !p.downloads.add(d, p.now()) {
		p.fail(w, r, s, http.StatusServiceUnavailable, "The node is preparing too many downloads. Try again in a few minutes.")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), downloadTimeout)
	go func() {
		defer cancel()
		doc, err := p.prepare(ctx, d, r.RemoteAddr)
		d.mu.Lock()
		d.doc, d.err = doc, err
		d.mu.Unlock()
	}()
	http.Redirect(w, r, "/portal/download/"+d.id, http.StatusSeeOther)
}

// downloadStatus shows how far the download got, or the link to it.
func (p *Portal) downloadStatus(w http.ResponseWriter, r *http.Request, s *session) {
	d := p.downloads.get(r.PathValue("job"), s.who.ID, p.now())
	if d == nil {
		p.fail(w, r, s, http.StatusNotFound, "There is no such download (they are kept 10 minutes). Prepare a new one.")
		return
	}
	d.mu.Lock()
	page := downloadPage{ID: d.id, Format: DownloadFormat, Done: d.done, Total: d.total, Ready: d.doc != nil}
	if d.err != nil {
		page.Problem = d.err.Error()
	}
	d.mu.Unlock()
	p.render(w, s, http.StatusOK, "download", "Download everything", page)
}

// downloadFile serves the prepared document as an attachment.
func (p *Portal) downloadFile(w http.ResponseWriter, r *http.Request, s *session) {
	d := p.downloads.get(r.PathValue("job"), s.who.ID, p.now())
	var doc []byte
	if d != nil {
		d.mu.Lock()
		doc = d.doc
		d.mu.Unlock()
	}
	if doc == nil {
		p.fail(w, r, s, http.StatusNotFound, "This download is not ready, or no longer kept.")
		return
	}
	name := "carechain-" + strings.TrimPrefix(s.who.ID, carechain.PatientPrefix) + "-" + d.created.UTC().Format("20060102") + ".json"
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.Write(doc)
}

// downloadDoc is the document (DownloadFormat).
type downloadDoc struct {
	Format  string          `json:"format"`
	Patient string          `json:"patient"`
	Created string          `json:"created"`
	Bundle  downloadBundle  `json:"bundle"`
	Proofs  []downloadProof `json:"proofs"`
}

type downloadBundle struct {
	ResourceType string          `json:"resourceType"`
	Type         string          `json:"type"`
	Timestamp    string          `json:"timestamp"`
	Total        int             `json:"total"`
	Entry        []downloadEntry `json:"entry,omitempty"`
}

type downloadEntry struct {
	Resource json.RawMessage `json:"resource"`
}

type downloadProof struct {
	Record  string          `json:"record"`
	Version uint64          `json:"version"`
	LogKey  string          `json:"log_key"`
	Proof   json.RawMessage `json:"proof"`
}

// prepare reads the patient's records and proves each, counting progress
// in d.
func (p *Portal) prepare(ctx context.Context, d *download, source string) ([]byte, error) {
	recs, err := p.records.ReadPatient(ctx, records.Query{Requester: d.patient, Patient: d.patient, Purpose: purpose,
		Keep: func(h *carechain.RecordHead) bool { return !h.Deleted }})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, rec := range recs {
			clear(rec.Resource)
		}
	}()
	d.mu.Lock()
	d.total = len(recs)
	d.mu.Unlock()
	now := p.now().UTC().Format(time.RFC3339)
	doc := downloadDoc{Format: DownloadFormat, Patient: d.patient, Created: now,
		Bundle: downloadBundle{ResourceType: "Bundle", Type: "collection", Timestamp: now, Total: len(recs)}, Proofs: []downloadProof{}}
	for i := range recs {
		rec := &recs[i]
		res, err := resourceWithMeta(rec)
		if err != nil {
			return nil, err
		}
		doc.Bundle.Entry = append(doc.Bundle.Entry, downloadEntry{Resource: res})
		key := ledger.RecordLogKey(rec.RecordID, rec.Version)
		if err := p.records.MayProve(ctx, records.ProofRequest{Requester: d.patient, Source: source, Kind: tlog.KindRecord, Key: key, Purpose: purpose}); err != nil {
			return nil, fmt.Errorf("proof of %s: %w", key, err)
		}
		b, err := p.proofs.ProveTrusting(ctx, 0, tlog.KindRecord, key)
		var enc []byte
		if err == nil {
			enc, err = proof.Encode(b)
		}
		if err != nil {
			return nil, fmt.Errorf("proof of %s: %w", key, err)
		}
		doc.Proofs = append(doc.Proofs, downloadProof{Record: rec.RecordID, Version: rec.Version, LogKey: key, Proof: enc})
		d.mu.Lock()
		d.done = i + 1
		d.mu.Unlock()
	}
	return json.MarshalIndent(doc, "", " ")
}

// resourceWithMeta is rec's resource with its id and meta.versionId and
// meta.lastUpdated (and the patient-reported tag of a version its patient
// wrote), as the FHIR API serves it.
func resourceWithMeta(rec *records.Record) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return nil, fmt.Errorf("record %s: %w", rec.RecordID, err)
	}
	m["id"], _ = json.Marshal(rec.RecordID)
	meta := map[string]any{"versionId": strconv.FormatUint(rec.Version, 10), "lastUpdated": time.Unix(rec.Time, 0).UTC().Format(time.RFC3339)}
	if rec.PatientAuthored() { // as the FHIR API tags it
		meta["tag"] = []map[string]string{{"system": "https://carechain.dev/fhir/tag", "code": "patient-reported", "display": "Patient-reported"}}
	}
	m["meta"], _ = json.Marshal(meta)
	return json.Marshal(m)
}
