package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// The demo's insurance: Carewell publishes the rules of its plan
// "standard" (PlanRules), which cover St Mary's catalogue (planning.go),
// the chest X-ray only with a prior authorization; demo patients but every
// fifth (demo-05, demo-10, …: no coverage) have a Coverage under it,
// written by the desk that registered them. The demo has no node of
// Carewell's: claims to Carewell are adjudicated on the demo node, signed
// by its claims officer (ClaimsOfficer), whose key the demo holds —
// records.RunAdjudicator, as an insurer's own node does with its node key.

// Insurer is the demo's insurer, Plan its plan.
const (
	Insurer  = "carewell"
	Plan     = "standard"
	PlanName = "Carewell Standard"
)

// ClaimsOfficer is the Carewell claims officer who signs the demo's
// adjudications.
const ClaimsOfficer = "carewell/claims-ward"

// PlanRules is the demo plan's rules document (claims.Rules): amounts in
// euro cents. A co-pay of 10.00 EUR a claim, then 20% co-insurance; the
// HbA1c test is covered up to 20.00 EUR of its 25.00 EUR price, four a
// year (a limit per year: claims/usage.go).
func PlanRules() []byte {
	doc := claims.Rules{
		Currency: "EUR", Copay: 1000, Coinsurance: 20,
		Benefits: []claims.Benefit{
			{System: SNOMED, Code: ConsultationCode, MaxUnitPrice: 8000, MaxQuantity: 1},
			{System: SNOMED, Code: FollowUpCode, MaxUnitPrice: 5000, MaxQuantity: 1},
			{System: SNOMED, Code: ECGCode, MaxUnitPrice: 4000, MaxQuantity: 1},
			{System: LOINC, Code: HbA1cCode, MaxUnitPrice: 2000, MaxQuantity: 4, MaxPerYear: 4},
			{System: LOINC, Code: ChestXRayCode, MaxUnitPrice: 6000, MaxQuantity: 1, PriorAuth: true},
		},
		Conditions: []claims.Condition{{Expr: "claim.total <= 500000",
			Reason: "a claim over 5000.00 EUR is reviewed by a claims officer, not decided by the rules"}},
	}
	b, _ := json.Marshal(doc) // strings, numbers and slices: never fails
	return b
}

// Covered reports whether demo patient i has a Coverage under the plan.
func Covered(i int) bool { return i%5 != 0 }

// coverageRecord is the Coverage of demo patient i under the plan.
func coverageRecord(i int) records.PutItem {
	doc := fmt.Sprintf(`{"resourceType":"Coverage","status":"active","subscriberId":"CW-1000%02d",
		"beneficiary":{"reference":"Patient/demo-%02d"},"payor":[{"reference":"Organization/%s","display":"Carewell Health Insurance"}],
		"class":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/coverage-class","code":"plan"}]},"value":%q,"name":%q}]}`,
		i, i, Insurer, Plan, PlanName)
	return records.PutItem{Patient: PatientID(i), Category: "billing", RecordID: fmt.Sprintf("demo-%02d-coverage", i), Resource: []byte(doc)}
}

// SeedClaims publishes the demo plan's rules, if it has none, and writes
// the Coverages not on the chain yet: one batch per desk.
func SeedClaims(ctx context.Context, svc *records.Service, chain Chain, ks *keystore.Store) error {
	v, err := chain.App().View(0)
	if err != nil {
		return err
	}
	if _, err := v.PlanRules(Insurer, Plan, 0); errors.Is(err, ledger.ErrNotFound) {
		admin, err := unlockSigner(ks, AdminID(Insurer))
		if err != nil {
			return err
		}
		if _, err := svc.PublishRules(ctx, admin, Plan, PlanRules()); err != nil {
			return fmt.Errorf("demo plan rules: %w", err)
		}
	} else if err != nil {
		return err
	}
	byClerk := map[string][]records.PutItem{}
	for i := 1; i <= PatientCount; i++ {
		item := coverageRecord(i)
		if !Covered(i) {
			continue
		}
		if _, err := v.Record(item.RecordID); err == nil {
			continue
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return err
		}
		byClerk[registeringClerk(i)] = append(byClerk[registeringClerk(i)], item)
	}
	for _, clerk := range registeringClerks {
		if len(byClerk[clerk]) == 0 {
			continue
		}
		s, err := unlockSigner(ks, clerk)
		if err != nil {
			return err
		}
		if _, err := svc.PutBatch(ctx, s, byClerk[clerk]); err != nil {
			return fmt.Errorf("demo coverages by %s: %w", clerk, err)
		}
	}
	return nil
}

// unlockSigner is the signer of demo principal id.
func unlockSigner(ks *keystore.Store, id string) (records.Signer, error) {
	k, err := ks.Unlock(KeyName(id), []byte(Passphrase))
	if err != nil {
		return records.Signer{}, fmt.Errorf("unlock %s: %w", id, err)
	}
	return records.Signer{ID: id, Key: k}, nil
}
