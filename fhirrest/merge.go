package fhirrest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// Merging a duplicate patient (ledger/merge.go), with FHIR R5's $merge
// parameters on R4:
//
//	POST /fhir/Patient/$merge   source-patient, target-patient (valueReference Patient/<id>)
//	                            decline (valueBoolean, optional; the patient only)
//
// Called by a registration clerk or admin, it proposes that the source is a
// duplicate of the target, which survives. Called by the patient, signed
// with the key of the identity they signed in as on this node, it is their
// answer: the target accepts first, then the source approves, and the
// merge takes effect; decline=true, from either, ends the proposal. Each
// answers 200 with an informational OperationOutcome once its transaction
// has committed; the ledger's refusals keep their status (403, 409, 422).
// A merged patient's Patient carries link replaced-by (the target's: replaces).

func (s *server) merge(w http.ResponseWriter, r *http.Request, c caller) {
	ps, err := readParameters(w, r)
	if err != nil {
		s.failErr(w, err)
		return
	}
	source, target, decline, err := mergeParameters(ps)
	if err != nil {
		s.failErr(w, err)
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	var done string
	if c.principal.Kind == carechain.KindPatient {
		if c.principal.ID != source && c.principal.ID != target {
			s.fail(w, http.StatusForbidden, "forbidden", errors.New("only the two patients answer their merge"))
			return
		}
		var state string
		if state, err = s.Records.AnswerMerge(r.Context(), signer, source, decline); err == nil {
			done = fmt.Sprintf("merge of %s into %s: %s", patientRef(source), patientRef(target), state)
		}
	} else if decline {
		err = badParameter("decline", errors.New("only the patient declines a merge"))
	} else if err = s.Records.ProposeMerge(r.Context(), signer, source, target); err == nil {
		done = fmt.Sprintf("merge of %s into %s proposed: %s accepts, then %s approves", patientRef(source), patientRef(target), patientRef(target), patientRef(source))
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	writeFHIR(w, http.StatusOK, &outcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "information", Code: "informational", Diagnostics: done}}})
}

// mergeParameters reads $merge's parameters.
func mergeParameters(ps []parameter) (source, target string, decline bool, err error) {
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name] {
			return "", "", false, badParameter(p.Name, errors.New("given more than once"))
		}
		seen[p.Name] = true
		switch {
		case (p.Name == "source-patient" || p.Name == "target-patient") && p.ValueReference != nil:
			id, ok := patientOf(p.ValueReference.Reference)
			if !ok {
				return "", "", false, badParameter(p.Name, fmt.Errorf("%q is not Patient/<id>", p.ValueReference.Reference))
			}
			if p.Name == "source-patient" {
				source = id
			} else {
				target = id
			}
		case p.Name == "decline" && p.ValueBoolean != nil:
			decline = *p.ValueBoolean
		default:
			return "", "", false, badParameter(p.Name, errors.New("unknown parameter, or not of its type (source-patient, target-patient: valueReference; decline: valueBoolean)"))
		}
	}
	if source == "" || target == "" {
		return "", "", false, badParameter("", errors.New("source-patient and target-patient are required"))
	}
	return source, target, decline, nil
}

// patientLinks is Patient.link for a patient's merges.
func patientLinks(l records.PatientLinks) []map[string]any {
	var out []map[string]any
	if l.ReplacedBy != "" {
		out = append(out, map[string]any{"other": reference{Reference: patientRef(l.ReplacedBy)}, "type": "replaced-by"})
	}
	for _, p := range l.Replaces {
		out = append(out, map[string]any{"other": reference{Reference: patientRef(p)}, "type": "replaces"})
	}
	return out
}
