package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/tx"
)

// St Mary's planning: an outpatient clinic (HealthcareService), a schedule
// for two of its practitioners with free slots over the next days, and a
// small price catalogue (ChargeItemDefinition). They are organization
// records (in plain on the ledger, no patient in them), signed by St Mary's
// admin. Slots are made relative to today, and each start adds the days
// that have none yet, so the demo's planning stays in the future.

// Demo catalogue URLs: a ChargeItem's definitionCanonical names one.
const (
	ConsultationFee = "https://st-mary.example/fees/consultation"
	FollowUpFee     = "https://st-mary.example/fees/follow-up"
	ChestXRayFee    = "https://st-mary.example/fees/chest-xray"
)

// ClinicService is the id of St Mary's outpatient clinic (HealthcareService).
const ClinicService = "sm-outpatients"

// planningDays are how many days, from tomorrow, get slots.
const planningDays = 3

// slotTimes are the starts of each practitioner's slots of a day (UTC),
// each slotLength long.
var slotTimes = []string{"09:00", "09:30", "10:00", "10:30", "14:00", "14:30"}

const slotLength = 30 * time.Minute

// scheduled are the practitioners with a demo schedule, by schedule id.
var scheduled = []struct{ schedule, practitioner, name string }{
	{"sm-dr-chen", "st-mary.dr-chen", "Dr. Mei Chen"},
	{"sm-dr-ito", "st-mary.dr-ito", "Dr. Kenji Ito"},
}

// Code systems of the catalogue's services.
const (
	SNOMED = "http://snomed.info/sct"
	LOINC  = "http://loinc.org"
)

// Codes of the catalogue's services: charge capture prices a service (an
// Encounter's type, a Procedure's code) by them, and the demo insurance
// plan (claims.go) covers them. The tests are coded as the portal orders
// them (LOINC).
const (
	ConsultationCode = "11429006"  // SNOMED CT: Consultation
	FollowUpCode     = "390906007" // SNOMED CT: Follow-up encounter
	ECGCode          = "29303009"  // SNOMED CT: Electrocardiographic procedure
	HbA1cCode        = "4548-4"    // LOINC: Hemoglobin A1c
	ChestXRayCode    = "36643-5"   // LOINC: XR Chest 2 Views
)

// fees is the demo price catalogue.
var fees = []struct {
	id, url, title string
	system, code   string
	eur            int
}{
	{"sm-fee-consultation", ConsultationFee, "Outpatient consultation", SNOMED, ConsultationCode, 80},
	{"sm-fee-follow-up", FollowUpFee, "Follow-up visit", SNOMED, FollowUpCode, 50},
	{"sm-fee-ecg", "https://st-mary.example/fees/ecg", "Electrocardiogram", SNOMED, ECGCode, 40},
	{"sm-fee-hba1c", "https://st-mary.example/fees/hba1c", "Hemoglobin A1c test", LOINC, HbA1cCode, 25},
	{"sm-fee-chest-xray", ChestXRayFee, "Chest X-ray, 2 views", LOINC, ChestXRayCode, 60},
}

// planningResources are St Mary's planning records as of now, by type and id.
func planningResources(now time.Time) []tx.OrgRecordPut {
	var out []tx.OrgRecordPut
	add := func(typ, id string, doc map[string]any) {
		doc["resourceType"], doc["id"] = typ, id
		b, _ := json.Marshal(doc) // maps of strings, numbers and slices: never fails
		out = append(out, tx.OrgRecordPut{ResourceType: typ, ID: id, Version: 1, Resource: b})
	}
	type obj = map[string]any
	add("HealthcareService", ClinicService, obj{"active": true, "name": "Outpatient clinic",
		"providedBy": obj{"reference": "Organization/st-mary", "display": "St Mary's Hospital"},
		"type":       []obj{{"text": "General outpatient clinic"}}})
	for _, f := range fees {
		add("ChargeItemDefinition", f.id, obj{"url": f.url, "status": "active", "title": f.title, "publisher": "St Mary's Hospital",
			"code":          obj{"coding": []obj{{"system": f.system, "code": f.code, "display": f.title}}},
			"propertyGroup": []obj{{"priceComponent": []obj{{"type": "base", "amount": obj{"value": f.eur, "currency": "EUR"}}}}}})
	}
	today := now.UTC().Truncate(24 * time.Hour)
	for _, s := range scheduled {
		add("Schedule", s.schedule, obj{"active": true, "comment": s.name + ", outpatient clinic",
			"actor": []obj{{"reference": "Practitioner/" + s.practitioner, "display": s.name},
				{"reference": "HealthcareService/" + ClinicService, "display": "Outpatient clinic"}}})
		for d := 1; d <= planningDays; d++ {
			day := today.AddDate(0, 0, d)
			for _, hm := range slotTimes {
				at, _ := time.Parse("15:04", hm)
				start := day.Add(time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute)
				add("Slot", fmt.Sprintf("%s-%s", s.schedule, start.Format("20060102-1504")), obj{
					"schedule": obj{"reference": "Schedule/" + s.schedule}, "status": "free",
					"serviceType": []obj{{"text": "General outpatient clinic"}},
					"start":       start.Format(time.RFC3339), "end": start.Add(slotLength).Format(time.RFC3339)})
			}
		}
	}
	return out
}

// SeedPlanning writes St Mary's planning records that are not on the
// chain yet, in one submission signed by St Mary's admin.
func SeedPlanning(ctx context.Context, chain Chain, ks *keystore.Store, now time.Time) (int, error) {
	v, err := chain.App().View(0)
	if err != nil {
		return 0, err
	}
	var todo []tx.OrgRecordPut
	for _, p := range planningResources(now) {
		_, err := v.OrgRecord(p.ResourceType, p.ID)
		if err == nil {
			continue
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return 0, err
		}
		res, err := fhirjson.Parse(p.Resource) // as a FHIR write is: valid R4, canonical JSON
		if err != nil {
			return 0, fmt.Errorf("demo planning %s/%s: %w", p.ResourceType, p.ID, err)
		}
		p.Resource = res.Canonical()
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return 0, nil
	}
	signer := AdminID("st-mary")
	key, err := ks.Unlock(KeyName(signer), []byte(Passphrase))
	if err != nil {
		return 0, fmt.Errorf("unlock %s: %w", signer, err)
	}
	nonce, err := v.NextNonce(signer)
	if err != nil {
		return 0, err
	}
	raws := make([][]byte, len(todo))
	for i := range todo {
		if raws[i], err = tx.Sign(key, chain.App().ChainID(), signer, nonce+uint64(i), tx.TypeOrgRecordPut, &todo[i]); err != nil {
			return 0, err
		}
	}
	outs, err := chain.SubmitAll(ctx, raws)
	if err != nil {
		return 0, fmt.Errorf("demo planning: %w", err)
	}
	for i, o := range outs {
		if !o.Accepted() {
			return 0, fmt.Errorf("demo planning %s/%s: %s: %s", todo[i].ResourceType, todo[i].ID, o.Code, o.Log)
		}
	}
	return len(todo), nil
}
