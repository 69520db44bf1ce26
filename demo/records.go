package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// Fictional patients' names: they exist only inside encrypted Patient resources.
var demoNames = []struct{ given, family, gender, birth string }{
	{"Amelia", "Hart", "female", "1984-03-12"}, {"Omar", "Farouk", "male", "1975-07-30"},
	{"Lucia", "Benedetti", "female", "1992-11-05"}, {"Kwame", "Mensah", "male", "1968-01-22"},
	{"Sofia", "Lindgren", "female", "2001-06-17"}, {"Hiro", "Tanaka", "male", "1959-09-09"},
	{"Nadia", "Petrova", "female", "1979-02-28"}, {"Diego", "Alvarez", "male", "1988-12-01"},
	{"Aisha", "Bello", "female", "1995-04-14"}, {"Liam", "O'Connor", "male", "1971-08-19"},
}

// recordSpec is one demo record: who writes it and what.
type recordSpec struct {
	patient, author, category, id string
	resource                      []byte
}

// patientRecords returns the demo records of patient i, written by staff of
// the hospital that registered them.
func patientRecords(i int) []recordSpec {
	p := PatientID(i)
	n := demoNames[(i-1)%len(demoNames)]
	physician, radiologist := "st-mary/dr-chen", "st-mary/dr-okafor"
	if i%2 == 1 {
		physician, radiologist = "city-general/dr-meyer", "city-general/dr-haddad"
	}
	subject := fmt.Sprintf(`{"reference":"Patient/demo-%02d"}`, i)
	rec := func(author, cat, kind, body string) recordSpec {
		id := fmt.Sprintf("demo-%02d-%s", i, kind)
		if kind == "patient" {
			id = fmt.Sprintf("demo-%02d", i) // a Patient resource's id is the patient's pseudonym
		}
		return recordSpec{p, author, cat, id, []byte(body)}
	}
	out := []recordSpec{
		rec(physician, "demographics", "patient", fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":"urn:carechain:demo","value":"%s"}],
			"name":[{"family":%q,"given":[%q]}],"gender":%q,"birthDate":%q}`, p, n.family, n.given, n.gender, n.birth)),
		rec(physician, "vital-signs", "heart-rate", fmt.Sprintf(`{"resourceType":"Observation","status":"final",
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
			"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":%s,
			"effectiveDateTime":"2026-11-%02dT09:15:00Z","valueQuantity":{"value":%d,"unit":"beats/minute","system":"http://unitsofmeasure.org","code":"/min"}}`,
			subject, 1+i%27, 58+i*2)),
		rec(physician, "lab", "glucose", fmt.Sprintf(`{"resourceType":"Observation","status":"final",
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
			"code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose [Mass/volume] in Serum or Plasma"}]},"subject":%s,
			"effectiveDateTime":"2026-11-%02dT07:30:00Z","valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`,
			subject, 1+i%27, 80+i*3)),
		rec(physician, "medication", "metformin", fmt.Sprintf(`{"resourceType":"MedicationRequest","status":"active","intent":"order",
			"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975","display":"Metformin 500 MG Oral Tablet"}]},
			"subject":%s,"dosageInstruction":[{"text":"500 mg twice daily with meals"}]}`, subject)),
	}
	if i%3 == 0 {
		out = append(out, rec(physician, "allergy", "penicillin", fmt.Sprintf(`{"resourceType":"AllergyIntolerance",
			"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},
			"code":{"coding":[{"system":"http://snomed.info/sct","code":"91936005","display":"Allergy to penicillin"}]},"patient":%s}`, subject)))
	}
	if i%4 == 0 {
		out = append(out, rec(radiologist, "imaging", "chest-xray", fmt.Sprintf(`{"resourceType":"DiagnosticReport","status":"final",
			"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"RAD"}]}],
			"code":{"coding":[{"system":"http://loinc.org","code":"36643-5","display":"XR Chest 2 Views"}]},"subject":%s,
			"conclusion":"No acute cardiopulmonary abnormality."}`, subject)))
	}
	if i == 3 {
		out = append(out, rec(physician, "mental-health", "anxiety", fmt.Sprintf(`{"resourceType":"Condition",
			"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
			"code":{"coding":[{"system":"http://snomed.info/sct","code":"21897009","display":"Generalized anxiety disorder"}]},"subject":%s}`, subject)))
	}
	return out
}

// SeedRecords writes the demo records and consents of patients that have
// none yet, through svc. Writers work in parallel, each in order.
func SeedRecords(ctx context.Context, svc *records.Service, chain Chain, ks *keystore.Store) (int, error) {
	v, err := chain.App().View(0)
	if err != nil {
		return 0, err
	}
	if o, err := v.Organization(Organizations()[0].ID); err != nil || len(o.EncryptionKey) == 0 {
		return 0, errNoKeys
	}
	signers := map[string]records.Signer{}
	signer := func(id string) (records.Signer, error) {
		if s, ok := signers[id]; ok {
			return s, nil
		}
		k, err := ks.Unlock(KeyName(id), []byte(Passphrase))
		if err != nil {
			return records.Signer{}, fmt.Errorf("unlock %s: %w", id, err)
		}
		signers[id] = records.Signer{ID: id, Key: k}
		return signers[id], nil
	}
	byAuthor := map[string][]recordSpec{}
	var authors []string
	for i := 1; i <= PatientCount; i++ {
		if heads, err := v.PatientRecords(PatientID(i)); err != nil {
			return 0, err
		} else if len(heads) > 0 {
			continue
		}
		for _, r := range patientRecords(i) {
			if _, ok := byAuthor[r.author]; !ok {
				authors = append(authors, r.author)
				if _, err := signer(r.author); err != nil {
					return 0, err
				}
			}
			byAuthor[r.author] = append(byAuthor[r.author], r)
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		written  int
		firstErr error
	)
	for _, a := range authors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range byAuthor[a] {
				_, err := svc.Put(ctx, signers[a], records.PutItem{Patient: r.patient, Category: r.category, RecordID: r.id, Resource: r.resource})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("demo record %s: %w", r.id, err)
				}
				if err == nil {
					written++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return written, firstErr
	}
	if v, err = chain.App().View(0); err != nil {
		return written, err
	}
	if err := seedConsents(ctx, svc, v, signer); err != nil {
		return written, err
	}
	return written, seedAmendment(ctx, svc, v, signer)
}

// seedAmendment gives St Mary's an approval policy for radiology reports and
// opens one correction, waiting for its four signers.
func seedAmendment(ctx context.Context, svc *records.Service, v *ledger.View, signer func(string) (records.Signer, error)) error {
	if ps, err := v.Proposals(); err != nil || len(ps) > 0 {
		return err
	}
	admin, err := signer(AdminID("st-mary"))
	if err != nil {
		return err
	}
	if err := svc.SetPolicy(ctx, admin, tx.AmendPolicy{Org: "st-mary", Category: "imaging", ResourceType: "DiagnosticReport",
		Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{{Role: carechain.RoleHospitalAuthority, Org: "st-mary"},
			{Role: carechain.RoleHeadOfRadiology, Org: "st-mary"}, {Role: carechain.RoleSpecialist, Org: "st-mary"}, {Patient: true}}}}); err != nil {
		return fmt.Errorf("demo policy: %w", err)
	}
	rad, err := signer("st-mary/dr-okafor")
	if err != nil {
		return err
	}
	corrected := []byte(`{"resourceType":"DiagnosticReport","status":"amended",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"RAD"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"36643-5","display":"XR Chest 2 Views"}]},"subject":{"reference":"Patient/demo-04"},
		"conclusion":"Small left apical pneumothorax, missed on first read."}`)
	if _, err := svc.Propose(ctx, rad, "demo-04-chest-xray", corrected, "missed finding on first read", 7*24*time.Hour); err != nil {
		return fmt.Errorf("demo proposal: %w", err)
	}
	return nil
}

// seedConsents gives three patients a consent story: a second opinion on
// their lab results, an emergency rule, and a research grant.
func seedConsents(ctx context.Context, svc *records.Service, v *ledger.View, signer func(string) (records.Signer, error)) error {
	now := time.Now().Unix()
	p1, p2, p3 := PatientID(1), PatientID(2), PatientID(3)
	for _, p := range []string{p1, p2, p3} {
		gs, err := v.Grants(p)
		if err != nil {
			return err
		}
		if len(gs) > 0 {
			return nil // seeded before
		}
	}
	s1, err := signer(p1)
	if err != nil {
		return err
	}
	if _, err := svc.Grant(ctx, s1, consent.Grant{
		Grantee: consent.Grantee{Principal: "st-mary/dr-chen"}, Categories: []string{"lab", "vital-signs"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment, consent.PurposeSecondOpinion, consent.PurposeBilling},
		NotBefore: now - 60, NotAfter: now + 90*24*3600, Condition: `request.purpose == "treatment" || request.purpose == "second-opinion"`,
	}); err != nil {
		return fmt.Errorf("demo grant of %s: %w", p1, err)
	}
	s2, err := signer(p2)
	if err != nil {
		return err
	}
	if err := svc.SetEmergencyRule(ctx, s2, consent.EmergencyRule{
		OrgTypes: []carechain.OrgType{carechain.OrgHospital}, Roles: []carechain.Role{carechain.RolePhysician},
		DurationSeconds: 24 * 3600, RequireReason: true,
	}); err != nil {
		return fmt.Errorf("demo emergency rule of %s: %w", p2, err)
	}
	s3, err := signer(p3)
	if err != nil {
		return err
	}
	if _, err := svc.Grant(ctx, s3, consent.Grant{
		Grantee: consent.Grantee{Org: "biomed", Role: carechain.RoleResearcher}, Categories: []string{"lab"},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch}, NotBefore: now - 60,
	}); err != nil {
		return fmt.Errorf("demo research grant of %s: %w", p3, err)
	}
	return nil
}

var errNoKeys = errors.New("this demo home predates encrypted records (its organizations have no encryption keys): run `carechain demo --reset`")
