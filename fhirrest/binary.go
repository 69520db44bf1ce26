package fhirrest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// Binary: create and read, the R4 way. The content is kept off the ledger
// (records/blobs.go): POST /fhir/Binary takes the raw bytes (their
// Content-Type, the security context in X-Security-Context) or a FHIR
// Binary JSON (securityContext, base64 data); GET /fhir/Binary/{id} gives
// the raw bytes, or the Binary JSON when the Accept header (or _format)
// asks for FHIR JSON. The securityContext decides whose record it is: a
// Patient, or a record of one (an ImagingStudy), the caller may read; it
// is sealed in that record's category (imaging for a Patient).

// securityContextHeader names a raw upload's security context (FHIR R4).
const securityContextHeader = "X-Security-Context"

// binaryDoc is what the CapabilityStatement says of Binary.
const binaryDoc = "Content kept off the ledger, sealed in the node's blob store and checked against the SHA-256 the ledger holds on every read; at most %d bytes. Create: raw bytes with their Content-Type and X-Security-Context (Patient/<id> or a record such as ImagingStudy/<id>), or a Binary JSON with securityContext and data. Read: raw bytes, or the Binary JSON with Accept: application/fhir+json."

// isFHIRJSON reports whether a media type is FHIR JSON.
func isFHIRJSON(mt string) bool { return jsonFormats[mt] && mt != "json" }

func (s *server) createBinary(w http.ResponseWriter, r *http.Request, c caller) {
	meta, data, err := readBinary(w, r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	it, err := s.binaryVersion(r, c, meta)
	if err == nil {
		it, err = authoredBy(c.principal, it)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	it.Blob = data
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	res, err := s.Records.Put(r.Context(), signer, it)
	if err != nil {
		s.failErr(w, err)
		return
	}
	w.Header().Set("Location", s.location(records.BinaryType, it.RecordID, res.Version))
	w.Header().Set("ETag", etag(res.Version))
	switch preferReturn(r) {
	case "minimal":
		w.WriteHeader(http.StatusCreated)
	case "OperationOutcome":
		writeFHIR(w, http.StatusCreated, informational(fmt.Sprintf("Binary/%s stored as version %d (%d bytes)", it.RecordID, res.Version, len(data))))
	default: // the Binary's metadata: its data is what the client just sent
		var m map[string]any
		_ = json.Unmarshal(it.Parsed.Canonical(), &m)
		m["meta"] = map[string]string{"versionId": fmt.Sprint(res.Version)}
		writeFHIR(w, http.StatusCreated, m)
	}
}

// binaryMeta is a Binary upload without its data.
type binaryMeta struct {
	contentType, securityContext string
	resource                     []byte // the Binary JSON without data
}

// readBinary reads a Binary upload: a FHIR Binary JSON, or raw bytes.
func readBinary(w http.ResponseWriter, r *http.Request) (binaryMeta, []byte, error) {
	ct := mediaType(r.Header.Get("Content-Type"))
	if ct == "" {
		return binaryMeta{}, nil, &requestError{kind: carechain.KindMalformed, code: "required", err: errors.New("a Binary upload needs a Content-Type: the content's own, or application/fhir+json for a Binary resource")}
	}
	if !isFHIRJSON(ct) {
		data, err := readBody(w, r, carechain.MaxBlobBytes)
		if err != nil {
			return binaryMeta{}, nil, err
		}
		sc := r.Header.Get(securityContextHeader)
		m := map[string]any{"resourceType": records.BinaryType, "contentType": r.Header.Get("Content-Type")}
		if sc != "" {
			m["securityContext"] = map[string]string{"reference": sc}
		}
		b, _ := json.Marshal(m)
		return binaryMeta{contentType: r.Header.Get("Content-Type"), securityContext: sc, resource: b}, data, nil
	}
	body, err := readBody(w, r, carechain.MaxBlobRequestBytes)
	if err != nil {
		return binaryMeta{}, nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return binaryMeta{}, nil, &requestError{kind: carechain.KindMalformed, code: "structure", err: fmt.Errorf("the Binary: %w", err)}
	}
	var data []byte
	if raw, ok := m["data"]; ok {
		if err := json.Unmarshal(raw, &data); err != nil {
			return binaryMeta{}, nil, &requestError{kind: carechain.KindMalformed, code: "value", path: "Binary.data", err: errors.New("Binary.data must be base64")}
		}
		delete(m, "data")
	}
	var sc struct {
		Reference string `json:"reference"`
	}
	_ = json.Unmarshal(m["securityContext"], &sc)
	var contentType string
	_ = json.Unmarshal(m["contentType"], &contentType)
	b, _ := json.Marshal(m)
	return binaryMeta{contentType: contentType, securityContext: sc.Reference, resource: b}, data, nil
}

// binaryVersion validates a Binary's metadata (R4 schema) and makes the
// record version it is written as: a new record of the patient its
// securityContext names, in that record's category.
func (s *server) binaryVersion(r *http.Request, c caller, meta binaryMeta) (records.PutItem, error) {
	res, err := parseAs(meta.resource, records.BinaryType)
	if err != nil {
		return records.PutItem{}, err
	}
	if meta.securityContext == "" {
		return records.PutItem{}, &requestError{kind: carechain.KindInvalid, code: "required", path: "Binary.securityContext",
			err: errors.New("a Binary needs a securityContext (X-Security-Context for raw bytes): Patient/<id>, or a record of the patient such as ImagingStudy/<id>")}
	}
	id := records.NewRecordID()
	if err := res.SetID(id); err != nil {
		return records.PutItem{}, err
	}
	res.DropMeta()
	patient, category, err := s.binaryContext(r, c, meta.securityContext)
	if err != nil {
		return records.PutItem{}, err
	}
	if h := r.Header.Get(categoryHeader); h != "" {
		category = h
	}
	return records.PutItem{Patient: patient, Category: category, RecordID: id, Parsed: res}, nil
}

// binaryContext is the patient and category of a securityContext: a
// Patient's imaging, or the patient and category of a record the caller
// may read (anything else is as absent: 404).
func (s *server) binaryContext(r *http.Request, c caller, ref string) (patient, category string, err error) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", "", &requestError{kind: carechain.KindInvalid, code: "value", path: "Binary.securityContext",
			err: fmt.Errorf("securityContext %q is not <type>/<id>", ref)}
	}
	if typ == "Patient" {
		return carechain.PatientPrefix + id, "imaging", nil
	}
	if _, ok := clinicalTypes[typ]; !ok {
		return "", "", &requestError{kind: carechain.KindInvalid, code: "value", path: "Binary.securityContext",
			err: fmt.Errorf("securityContext %q is neither a Patient nor a patient's record", ref)}
	}
	head, err := s.visibleHead(r, c, typ, id, 0, consent.ActionRead)
	if err != nil {
		return "", "", err
	}
	return head.Patient, head.Category, nil
}

func (s *server) readBinary(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	asJSON, err := binaryAsJSON(r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if _, err := s.visibleHead(r, c, records.BinaryType, id, 0, consent.ActionRead); err != nil {
		s.failErr(w, err)
		return
	}
	rec, data, err := s.Records.ReadBinary(r.Context(), c.principal.ID, id, 0, c.purpose)
	if err != nil {
		s.failErr(w, err)
		return
	}
	if asJSON || rec.Deleted {
		s.writeBinaryJSON(w, rec, data)
		return
	}
	var m struct {
		ContentType string `json:"contentType"`
	}
	_ = json.Unmarshal(rec.Resource, &m)
	sum := sha256.Sum256(data)
	h := w.Header()
	h.Set("Content-Type", m.ContentType)
	h.Set("ETag", etag(rec.Version))
	h.Set("Last-Modified", lastUpdated(rec.RecordVersion).Format(http.TimeFormat))
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	// Uploaded content is never run as a page of this origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// binaryAsJSON reports whether a Binary read asks for the Binary resource
// (FHIR JSON by _format or Accept) rather than its raw content.
func binaryAsJSON(r *http.Request) (bool, error) {
	if f := r.URL.Query().Get("_format"); f != "" {
		if !jsonFormats[strings.ToLower(strings.ReplaceAll(f, " ", "+"))] {
			return false, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: notAcceptable(fmt.Sprintf("_format %q", f))}
		}
		return true, nil
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if isFHIRJSON(mediaType(strings.TrimSpace(part))) {
			return true, nil
		}
	}
	return false, nil
}

// writeBinaryJSON answers with the Binary resource: its metadata and data.
func (s *server) writeBinaryJSON(w http.ResponseWriter, rec *records.Record, data []byte) {
	if rec.Deleted {
		s.writeRecord(w, http.StatusOK, records.BinaryType, rec) // 410 Gone
		return
	}
	body, err := withMeta(rec)
	var m map[string]json.RawMessage
	if err == nil {
		err = json.Unmarshal(body, &m)
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	m["data"], _ = json.Marshal(data)
	w.Header().Set("ETag", etag(rec.Version))
	w.Header().Set("Last-Modified", lastUpdated(rec.RecordVersion).Format(http.TimeFormat))
	writeFHIR(w, http.StatusOK, m)
}

// InstanceContentURL is the extension on ImagingStudy.series.instance
// that points at an instance's content: a valueAttachment whose url is
// "Binary/<id>", with contentType, size and hash (SHA-1, base64, as R4
// defines Attachment.hash) of the content, so whoever reads it can check
// what GET Binary/<id> gives.
const InstanceContentURL = "https://carechain.dev/fhir/StructureDefinition/instance-content"
