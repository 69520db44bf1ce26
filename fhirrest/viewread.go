package fhirrest

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// Reads by id of the views a search shows only within one patient or
// record: Consent (a grant: the patient, or a grantee it names, reads it),
// AuditEvent (the patient reads their own access log) and Provenance
// ({record}-{version}: whoever may read the record). Each is answered as
// the search that shows it would answer the caller, so it shows nothing
// the search would not; what the caller may not see is a 404.

// viewReadByID answers GET /fhir/{Consent|AuditEvent|Provenance}/{id}.
func (s *server) viewReadByID(w http.ResponseWriter, r *http.Request, c caller, typ, id string) {
	var query url.Values
	switch typ {
	case "Consent":
		patient := c.principal.ID
		if c.principal.Kind != carechain.KindPatient {
			g, err := c.view.GrantByID(id)
			if err != nil {
				s.failErr(w, asNotFound(typ, err))
				return
			}
			patient = g.Patient
		}
		query = url.Values{"patient": {patientRef(patient)}}
	case "AuditEvent":
		if c.principal.Kind != carechain.KindPatient {
			s.failErr(w, notFound(typ)) // only the patient reads their access log
			return
		}
		query = url.Values{"patient": {patientRef(c.principal.ID)}}
	case "Provenance":
		i := strings.LastIndex(id, "-")
		if i <= 0 {
			s.failErr(w, notFound(typ))
			return
		}
		head, err := c.view.Record(id[:i])
		if err != nil {
			s.failErr(w, asNotFound(typ, err))
			return
		}
		query = url.Values{"target": {head.ResourceType + "/" + head.RecordID}}
	}
	search := r.Clone(r.Context())
	search.URL.RawQuery = query.Encode()
	find := map[string]func(*http.Request, caller) ([]any, error){"Consent": s.consents, "AuditEvent": s.auditEvents, "Provenance": s.provenance}[typ]
	resources, err := find(search, c)
	if err != nil {
		s.failErr(w, asNotFound(typ, err))
		return
	}
	for _, res := range resources {
		b, err := json.Marshal(res)
		var head struct{ ID string }
		if err == nil && json.Unmarshal(b, &head) == nil && head.ID == id {
			writeFHIR(w, http.StatusOK, res)
			return
		}
	}
	s.failErr(w, notFound(typ))
}

// asNotFound is err, or a 404 of typ if err says the caller may not see
// it or it is not there.
func asNotFound(typ string, err error) error {
	if errors.Is(err, ledger.ErrNotFound) || carechain.KindOf(err) == carechain.KindPermission || carechain.KindOf(err) == carechain.KindNotFound {
		return notFound(typ)
	}
	return err
}
