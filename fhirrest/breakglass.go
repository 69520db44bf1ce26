package fhirrest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// Break-glass over FHIR: a read or search of a patient's records with the
// header
//
//	X-Break-Glass-Reason: <why, at most consent.MaxReasonLen bytes; may be empty>
//
// first asks the ledger for emergency access to that patient
// (records.Service.InvokeEmergency, signed with the caller's key on this
// node), which it grants under the patient's emergency rule or refuses
// (403, with the ledger's reason), and then serves the request for purpose
// emergency. The invocation and its reason, sealed to the patient, are in
// the patient's access log either way. While the caller holds emergency
// access to the patient that has not expired, the header does not invoke it
// again: the reads are still logged, for purpose emergency.
const breakGlassHeader = "X-Break-Glass-Reason"

// breakGlass invokes emergency access for the request r if it carries
// breakGlassHeader, and returns the caller it is served as: for purpose
// emergency, reading the ledger as it is after the access was granted. It
// answers and reports false if the request cannot go on.
func (s *server) breakGlass(w http.ResponseWriter, r *http.Request, c caller) (caller, bool) {
	reasons, ok := r.Header[breakGlassHeader]
	if !ok {
		return c, true
	}
	if err := checkBreakGlass(r, reasons, c); err != nil {
		s.failErr(w, err)
		return c, false
	}
	patient, err := breakGlassPatient(r, c)
	if err != nil {
		s.failErr(w, err)
		return c, false
	}
	held, err := holdsEmergencyAccess(c, patient, s.Now().Unix())
	if err != nil {
		s.failErr(w, err)
		return c, false
	}
	if !held {
		signer, ok := s.signer(w, c)
		if !ok {
			return c, false
		}
		err := s.Records.InvokeEmergency(r.Context(), signer, patient, reasons[0])
		switch {
		case errors.Is(err, ledger.ErrRejected):
			s.fail(w, http.StatusForbidden, "forbidden", fmt.Errorf("break-glass refused: %w", err))
			return c, false
		case err != nil:
			s.failErr(w, err)
			return c, false
		}
		c.view = s.App.Latest() // with the emergency grant
	}
	c.purpose = consent.PurposeEmergency
	return c, true
}

// checkBreakGlass checks the header and the request it came with: one
// reason of bounded size, on a read, not for another stated purpose.
func checkBreakGlass(r *http.Request, reasons []string, c caller) error {
	bad := func(format string, args ...any) error {
		return &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf(format, args...)}
	}
	switch {
	case len(reasons) != 1:
		return bad("%s given %d times", breakGlassHeader, len(reasons))
	case len(reasons[0]) > consent.MaxReasonLen:
		return bad("%s over %d bytes", breakGlassHeader, consent.MaxReasonLen)
	case r.Method != http.MethodGet:
		return bad("%s opens reads and searches only", breakGlassHeader)
	case r.Header.Get("X-Purpose-Of-Use") != "" && c.purpose != consent.PurposeEmergency:
		return bad("%s is for purpose emergency, not X-Purpose-Of-Use %q", breakGlassHeader, c.purpose)
	}
	return nil
}

// breakGlassPatient is the patient whose records a break-glass request
// reads: the one it names (Patient/{id}/$everything; a search's or type
// history's patient=), or the one whose record it reads. The ids of records
// are random, so the record's patient tells the caller no more than what
// the id they hold already is about.
func breakGlassPatient(r *http.Request, c caller) (string, error) {
	id, typ := r.PathValue("id"), r.PathValue("type")
	switch r.Pattern {
	case "GET /fhir/Patient/{id}/$everything":
		if p, ok := patientOf(id); ok {
			return p, nil
		}
		return "", notFound("Patient")
	case "GET /fhir/{type}", "GET /fhir/{type}/{id}", "GET /fhir/{type}/{id}/_history", "GET /fhir/{type}/{id}/_history/{vid}":
	default:
		return "", &requestError{kind: carechain.KindMalformed, code: "not-supported",
			err: fmt.Errorf("%s opens reads, searches, histories and $everything of a patient's records", breakGlassHeader)}
	}
	if _, clinical := clinicalTypes[typ]; !clinical {
		return "", &requestError{kind: carechain.KindMalformed, code: "not-supported",
			err: fmt.Errorf("%s opens a patient's records, not %s", breakGlassHeader, typ)}
	}
	if id == "" || id == "_history" {
		p, ok := patientParam(r.URL.Query(), c, typ)
		if !ok {
			return "", &requestError{kind: carechain.KindMalformed, code: "required",
				err: fmt.Errorf("%s on a search needs patient=Patient/<id>", breakGlassHeader)}
		}
		return p, nil
	}
	head, err := c.view.Record(id)
	if errors.Is(err, ledger.ErrNotFound) {
		return "", notFound(typ)
	} else if err != nil {
		return "", err
	}
	return head.Patient, nil
}

// holdsEmergencyAccess reports whether the caller holds emergency access to
// patient at now: an emergency grant to it that is neither revoked nor expired.
func holdsEmergencyAccess(c caller, patient string, now int64) (bool, error) {
	grants, err := c.view.Grants(patient)
	if err != nil {
		return false, err
	}
	for _, g := range grants {
		if g.Emergency && !g.Revoked && g.Grantee.Principal == c.principal.ID && g.NotBefore <= now && (g.NotAfter == 0 || now < g.NotAfter) {
			return true, nil
		}
	}
	return false, nil
}
