package study

import (
	"encoding/json"
	"time"
)

// SubjectOf builds what eligibility criteria see of a patient from their
// decrypted FHIR resources: age at now from Patient.birthDate, sex from
// Patient.gender, the codes of every Condition, and for each Observation
// code with a numeric valueQuantity the value of the latest (by
// effectiveDateTime, then by order given). Resources it cannot read are
// skipped: a criterion over data that is missing fails, naming itself.
func SubjectOf(resources []json.RawMessage, now time.Time) Subject {
	s := Subject{Observations: map[string]float64{}}
	when := map[string]string{}
	for _, raw := range resources {
		var r fhirResource
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		switch r.ResourceType {
		case "Patient":
			s.Sex = r.Gender
			if b, err := time.Parse(time.DateOnly, r.BirthDate); err == nil {
				s.Age = ageAt(b, now)
			}
		case "Condition":
			for _, c := range r.Code.Coding {
				s.Conditions = append(s.Conditions, c.Code)
			}
		case "Observation":
			if r.ValueQuantity == nil || r.ValueQuantity.Value == nil {
				continue
			}
			for _, c := range r.Code.Coding {
				if prev, ok := when[c.Code]; !ok || r.EffectiveDateTime >= prev {
					s.Observations[c.Code], when[c.Code] = *r.ValueQuantity.Value, r.EffectiveDateTime
				}
			}
		}
	}
	return s
}

// CriteriaReads reports whether criteria read resources of FHIR type t:
// those SubjectOf reads.
func CriteriaReads(t string) bool { return t == "Patient" || t == "Condition" || t == "Observation" }

// fhirResource is the part of a resource SubjectOf reads.
type fhirResource struct {
	ResourceType string `json:"resourceType"`
	Gender       string `json:"gender"`
	BirthDate    string `json:"birthDate"`
	Code         struct {
		Coding []struct {
			Code string `json:"code"`
		} `json:"coding"`
	} `json:"code"`
	ValueQuantity *struct {
		Value *float64 `json:"value"`
	} `json:"valueQuantity"`
	EffectiveDateTime string `json:"effectiveDateTime"`
}

// ageAt is the age in whole years at now of someone born on birth.
func ageAt(birth, now time.Time) int64 {
	age := int64(now.Year() - birth.Year())
	if now.Month() < birth.Month() || now.Month() == birth.Month() && now.Day() < birth.Day() {
		age--
	}
	return age
}
