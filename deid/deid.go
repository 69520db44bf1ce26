// Package deid de-identifies FHIR R4 resources (JSON) for research use by
// the HIPAA Safe Harbor method (45 CFR 164.514(b)(2)), optionally keeping a
// pseudonym per patient that is stable within one study.
//
// Use it as
//
//	known := deid.KnownFrom(patientJSON) // the patient's own identifiers, for free text
//	out, err := deid.Resource(resourceJSON, deid.Options{Mode: deid.Pseudonymized, Key: deid.StudyKey(secret, study), Known: known, Now: now})
//
// What it removes, in structured fields, free text and extension values:
// names, telecom, identifiers (every `identifier`, masterIdentifier,
// accessionIdentifier, serial and lot numbers, UDI carriers, subscriber
// IDs), photos and image attachments, contacts and links of a Patient,
// addresses below the state (the ZIP code is cut to its first three digits,
// 000 for the restricted ones), every date to its year (an instant to the
// first instant of its year), ages over 89 (and birth dates that imply
// them) to "90 or older", URLs, and references to patient data, which
// become pseudonymous (Pseudonym). Free text (narratives, notes,
// descriptions, conclusions, string values, text/plain attachments) is
// scrubbed of phone numbers, e-mail addresses, SSNs, identifier-like
// numbers, dates, ZIP codes, URLs, IP addresses, ages over 89 and every
// identifier of the patient found in Known (their names, numbers and
// address lines, and their contacts': relatives), in any letter case.
//
// Limits, by design of pattern matching: a name in free text that is
// neither the patient's nor a contact's (a neighbour) survives unless it is
// in Known; a number of five digits or more in free text goes even when it
// is a measurement; an attachment that is neither text/plain nor an image
// (a PDF) is dropped, not scrubbed. The package never logs what it sees.
package deid

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Mode is the kind of de-identification.
type Mode string

// Modes. Both remove the 18 Safe Harbor identifier kinds; they differ in
// the pseudonyms: a study's are stable across its exports (Pseudonymized),
// Safe Harbor's come from a key the caller discards after one answer, so
// nothing links them to the patient afterwards (164.514(c)).
const (
	SafeHarbor    Mode = "safe-harbor"
	Pseudonymized Mode = "pseudonymized"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m == SafeHarbor || m == Pseudonymized }

// Security labels (meta.security) marking de-identified output.
const (
	LabelSystem     = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	LabelAnonymized = "ANONYED"
	LabelPseudonym  = "PSEUDED"
)

// Label is the meta.security coding of m's output.
func (m Mode) Label() map[string]any {
	if m == SafeHarbor {
		return map[string]any{"system": LabelSystem, "code": LabelAnonymized, "display": "anonymized"}
	}
	return map[string]any{"system": LabelSystem, "code": LabelPseudonym, "display": "pseudonymized"}
}

// KeySize is the size of a pseudonym key.
const KeySize = 32

// Options configure Resource.
type Options struct {
	Mode Mode
	// Key makes pseudonyms (Pseudonym): a study key (StudyKey) or, for
	// SafeHarbor, a random key used for one answer and then discarded.
	Key []byte
	// Known are the patient's own identifiers, scrubbed from free text.
	Known *Known
	// Now is the time ages are reckoned at.
	Now time.Time
}

// ErrInput is a resource that is not a JSON object.
var ErrInput = errors.New("deid: not a FHIR resource (JSON object)")

// Resource returns raw de-identified by o: valid R4 JSON, its meta marked
// with o.Mode's security label. Its id becomes the pseudonym of its
// type and id.
func Resource(raw []byte, o Options) ([]byte, error) {
	if !o.Mode.Valid() {
		return nil, fmt.Errorf("deid: unknown mode %q", o.Mode)
	}
	if len(o.Key) != KeySize {
		return nil, fmt.Errorf("deid: key is %d bytes, want %d", len(o.Key), KeySize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, ErrInput
	}
	typ, _ := m["resourceType"].(string)
	if typ == "" {
		return nil, ErrInput
	}
	d := &deidentifier{o: o, year: o.Now.UTC().Year()}
	if d.o.Known == nil {
		d.o.Known = &Known{}
	}
	d.resource(m)
	if id, ok := m["id"].(string); ok {
		m["id"] = Pseudonym(o.Key, typ, id)
	}
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["security"] = append(asList(meta["security"]), o.Mode.Label())
	m["meta"] = meta
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("deid: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// PseudonymLen is the length of a pseudonym: 32 hex digits, 128 bits.
const PseudonymLen = 32

// Pseudonym is the pseudonymous id of typ/id under key: the first 128 bits
// of HMAC-SHA256(key, typ "/" id), in hex. The same key gives the same
// pseudonym; without the key it tells nothing of id.
func Pseudonym(key []byte, typ, id string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(typ + "/" + id))
	return hex.EncodeToString(mac.Sum(nil))[:PseudonymLen]
}

// StudyKey is the pseudonym key of study, derived from secret (a key the
// exporting node holds): HMAC-SHA256(secret, "carechain deid study key v1"
// 0 study). Studies' keys are unrelated, so their pseudonyms cannot be
// linked without secret.
func StudyKey(secret []byte, study string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("carechain deid study key v1\x00" + study))
	return mac.Sum(nil)
}

// SecretSize is the size of a node's study-key secret.
const SecretSize = 32

// SecretFrom derives a node's study-key secret from key material the node
// already keeps (its node key): HKDF-SHA256 with info "carechain deid study
// secret v1". It is as stable as that key, so a study's pseudonyms stay the
// same across restarts, and as secret: never log or store it.
func SecretFrom(keyMaterial []byte) ([]byte, error) {
	if len(keyMaterial) < 16 {
		return nil, fmt.Errorf("deid: key material is %d bytes, want at least 16", len(keyMaterial))
	}
	secret, err := hkdf.Key(sha256.New, keyMaterial, nil, "carechain deid study secret v1", SecretSize)
	if err != nil {
		return nil, fmt.Errorf("deid: derive the study secret: %w", err)
	}
	return secret, nil
}
