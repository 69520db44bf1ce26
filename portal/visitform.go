package portal

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// A clinician records a visit: an Encounter (finished, of a type from
// visitTypes, by the practitioner, at their organization, with the reason)
// and a Procedure for each procedure ticked (from visitProcedures), whose
// encounter is the visit. Both are general records of the patient, written
// in one transaction (records.Service.PutBatch) under the organization's
// role policy and the patient's consent. Billing staff charge the visit
// from the catalogue by these codes (records/charges.go).

const snomed = "http://snomed.info/sct"

// visitKind is a coded choice of the visit form (SNOMED CT).
type visitKind struct {
	Code, Name string
	Class      string // the Encounter's v3 ActCode class (visit types only)
}

// visitTypes are the kinds of visit the form records.
var visitTypes = []visitKind{
	{"11429006", "Consultation", "AMB"},
	{"390906007", "Follow-up encounter", "AMB"},
	{"50849002", "Emergency room admission", "EMER"},
}

// visitProcedures are the procedures the form records with a visit.
var visitProcedures = []visitKind{
	{Code: "29303009", Name: "Electrocardiographic procedure"},
	{Code: "225358003", Name: "Wound care"},
	{Code: "33879002", Name: "Administration of vaccine"},
}

func kindOf(kinds []visitKind, code string) (visitKind, bool) {
	i := slices.IndexFunc(kinds, func(k visitKind) bool { return k.Code == code })
	if i < 0 {
		return visitKind{}, false
	}
	return kinds[i], true
}

// practitionerRef is a practitioner's FHIR reference (org/name →
// Practitioner/org.name).
func practitionerRef(id string) jsonObj {
	return jsonObj{"reference": "Practitioner/" + strings.Replace(id, "/", ".", 1)}
}

// visitItems are the records of the visit form f: the Encounter first.
func visitItems(f url.Values, patient string, who *carechain.Principal, now time.Time) ([]records.PutItem, error) {
	kind, ok := kindOf(visitTypes, f.Get("type"))
	if !ok {
		return nil, errors.New("choose the kind of visit")
	}
	reason, err := formText(f, "reason", "Reason", false, maxFormText)
	if err != nil {
		return nil, err
	}
	at := now.UTC().Format(time.RFC3339)
	enc := jsonObj{"resourceType": "Encounter", "id": records.NewRecordID(), "status": "finished",
		"class":   jsonObj{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": kind.Class},
		"type":    []jsonObj{coded(snomed, kind.Code, kind.Name)},
		"subject": subjectOf(patient), "period": jsonObj{"start": at, "end": at},
		"participant":     []jsonObj{{"individual": practitionerRef(who.ID)}},
		"serviceProvider": jsonObj{"reference": "Organization/" + who.Org}}
	if reason != "" {
		enc["reasonCode"] = []jsonObj{{"text": reason}}
	}
	docs := []jsonObj{enc}
	for _, code := range f["procedure"] {
		pr, ok := kindOf(visitProcedures, code)
		if !ok {
			return nil, errors.New("a procedure the form does not offer")
		}
		docs = append(docs, jsonObj{"resourceType": "Procedure", "id": records.NewRecordID(), "status": "completed",
			"code": coded(snomed, pr.Code, pr.Name), "subject": subjectOf(patient), "performedDateTime": at,
			"encounter": jsonObj{"reference": "Encounter/" + enc["id"].(string)},
			"performer": []jsonObj{{"actor": practitionerRef(who.ID)}}})
	}
	items := make([]records.PutItem, 0, len(docs))
	for _, d := range docs {
		body, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		items = append(items, records.PutItem{Patient: patient, Category: "general", RecordID: d["id"].(string), Resource: body})
	}
	return items, nil
}

// writeVisit records the visit form's Encounter and Procedures.
func (p *Portal) writeVisit(w http.ResponseWriter, r *http.Request, s *session, patient string) {
	items, err := visitItems(r.PostForm, patient, s.who, p.now())
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not written: "+err.Error()+".")
		return
	}
	defer func() {
		for _, it := range items {
			clear(it.Resource)
		}
	}()
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if _, err := p.records.PutBatch(r.Context(), signer, items); err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.logger.Info("portal write", "principal", signer.ID, "record", items[0].RecordID, "records", len(items)) // IDs only
	http.Redirect(w, r, "/portal/patients/"+r.PathValue("id")+"?written=visit", http.StatusSeeOther)
}
