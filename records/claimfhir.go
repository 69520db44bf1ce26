package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
)

// What claims read of FHIR resources: a Claim's patient, coverage, items
// and prior authorizations; a Coverage's beneficiary, payor (the insurer)
// and plan (its class of type plan). Prices are decimals in the currency's
// major unit, with at most two decimals; quantities whole units.

type codingJSON struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type quantityJSON struct {
	Value json.Number `json:"value"`
}

type moneyJSON struct {
	Value    json.Number `json:"value"`
	Currency string      `json:"currency"`
}

type claimJSON struct {
	ResourceType string  `json:"resourceType"`
	Use          string  `json:"use"`
	Patient      refJSON `json:"patient"`
	Insurer      refJSON `json:"insurer"`
	Insurance    []struct {
		Coverage   refJSON  `json:"coverage"`
		PreAuthRef []string `json:"preAuthRef"`
	} `json:"insurance"`
	Item []struct {
		Sequence         int64 `json:"sequence"`
		ProductOrService struct {
			Coding []codingJSON `json:"coding"`
		} `json:"productOrService"`
		Quantity     *quantityJSON `json:"quantity"`
		UnitPrice    *moneyJSON    `json:"unitPrice"`
		ServicedDate string        `json:"servicedDate"`
		Encounter    []refJSON     `json:"encounter"`
	} `json:"item"`
}

// ClaimFacts is what the service reads of a FHIR Claim.
type ClaimFacts struct {
	Claim    claims.Claim
	Coverage string // the Coverage record's id
	// Insurer is the organization Claim.insurer names, if any: it must be
	// the Coverage's payor.
	Insurer string
	// Billable is what makes two claims the same claim (ClaimCommitment):
	// the items with their dates and encounters.
	Billable []string
}

// ParseClaim reads a Claim (canonical FHIR JSON) for adjudication. Errors
// wrap ErrInvalid and name the element.
func ParseClaim(resource []byte) (*ClaimFacts, error) {
	var c claimJSON
	dec := json.NewDecoder(bytes.NewReader(resource))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c.ResourceType != "Claim" {
		return nil, fmt.Errorf("%w: not a Claim", ErrInvalid)
	}
	f := &ClaimFacts{Claim: claims.Claim{Use: c.Use}}
	var ok bool
	if f.Claim.Patient, ok = PrincipalOfReference(c.Patient.Reference); !ok || !strings.HasPrefix(f.Claim.Patient, carechain.PatientPrefix) {
		return nil, fmt.Errorf("%w: Claim.patient must reference the Patient", ErrInvalid)
	}
	f.Insurer, _ = strings.CutPrefix(c.Insurer.Reference, "Organization/")
	if len(c.Insurance) != 1 {
		return nil, fmt.Errorf("%w: Claim.insurance must name one Coverage", ErrInvalid)
	}
	if f.Coverage, ok = strings.CutPrefix(c.Insurance[0].Coverage.Reference, "Coverage/"); !ok || f.Coverage == "" {
		return nil, fmt.Errorf("%w: Claim.insurance[0].coverage must reference a Coverage (Coverage/<id>)", ErrInvalid)
	}
	for _, ref := range c.Insurance[0].PreAuthRef {
		f.Claim.PreAuthRefs = append(f.Claim.PreAuthRefs, strings.TrimPrefix(ref, "Claim/"))
	}
	for i, it := range c.Item {
		item, err := claimItem(it.Sequence, it.ProductOrService.Coding, it.Quantity, it.UnitPrice, &f.Claim.Currency)
		if err != nil {
			return nil, fmt.Errorf("%w: Claim.item[%d]: %w", ErrInvalid, i, err)
		}
		f.Claim.Items = append(f.Claim.Items, item)
		line := fmt.Sprintf("%d|%s|%s|%d|%d|%s", item.Sequence, item.System, item.Code, item.Quantity, item.UnitPrice, it.ServicedDate)
		for _, e := range it.Encounter {
			line += "|" + e.Reference
		}
		f.Billable = append(f.Billable, line)
	}
	if err := f.Claim.Check(); err != nil {
		return nil, fmt.Errorf("%w: Claim: %w", ErrInvalid, err)
	}
	return f, nil
}

// claimItem reads one Claim.item; currency is the claim's, set by its first
// priced item.
func claimItem(seq int64, coding []codingJSON, qty *quantityJSON, price *moneyJSON, currency *string) (claims.Item, error) {
	it := claims.Item{Sequence: seq, Quantity: 1}
	if len(coding) == 0 || coding[0].System == "" || coding[0].Code == "" {
		return it, fmt.Errorf("productOrService needs a coding with a system and a code")
	}
	it.System, it.Code = coding[0].System, coding[0].Code
	if qty != nil {
		q, ok := new(big.Rat).SetString(string(qty.Value))
		if !ok || !q.IsInt() || !q.Num().IsInt64() {
			return it, fmt.Errorf("quantity.value %s is not a whole number", qty.Value)
		}
		it.Quantity = q.Num().Int64()
	}
	if price == nil {
		return it, fmt.Errorf("unitPrice is required")
	}
	if *currency != "" && price.Currency != *currency {
		return it, fmt.Errorf("unitPrice is in %q, the claim's earlier items in %s", price.Currency, *currency)
	}
	*currency = price.Currency
	cents, err := MinorUnits(string(price.Value))
	if err != nil {
		return it, fmt.Errorf("unitPrice.value: %w", err)
	}
	it.UnitPrice = cents
	return it, nil
}

// MinorUnits converts a decimal amount ("12.5") to minor units (1250).
func MinorUnits(decimal string) (int64, error) {
	r, ok := new(big.Rat).SetString(decimal)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal", decimal)
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() || !r.Num().IsInt64() || r.Sign() < 0 {
		return 0, fmt.Errorf("%s has more than two decimals, or is out of range", decimal)
	}
	return r.Num().Int64(), nil
}

// Decimal writes minor units as a decimal amount (1250 → 12.50).
func Decimal(minor int64) json.Number {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return json.Number(fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100))
}

type coverageJSON struct {
	ResourceType string    `json:"resourceType"`
	Status       string    `json:"status"`
	Beneficiary  refJSON   `json:"beneficiary"`
	Payor        []refJSON `json:"payor"`
	Class        []struct {
		Type struct {
			Coding []codingJSON `json:"coding"`
		} `json:"type"`
		Value string `json:"value"`
	} `json:"class"`
}

// Coverage is what claims read of a FHIR Coverage.
type Coverage struct {
	Patient, Insurer, Plan, Status string
}

// ParseCoverage reads a Coverage's beneficiary, payor and plan.
func ParseCoverage(resource []byte) (*Coverage, error) {
	var c coverageJSON
	if err := json.Unmarshal(resource, &c); err != nil || c.ResourceType != "Coverage" {
		return nil, fmt.Errorf("%w: not a Coverage", ErrInvalid)
	}
	out := &Coverage{Status: c.Status}
	out.Patient, _ = PrincipalOfReference(c.Beneficiary.Reference)
	if len(c.Payor) > 0 {
		out.Insurer, _ = strings.CutPrefix(c.Payor[0].Reference, "Organization/")
	}
	for _, cl := range c.Class {
		for _, cd := range cl.Type.Coding {
			if cd.Code == "plan" {
				out.Plan = cl.Value
			}
		}
	}
	if out.Insurer == "" || out.Plan == "" {
		return nil, fmt.Errorf("%w: the Coverage names no insurer (payor Organization/<id>) or no plan (class of type plan): no coverage to claim under", ErrInvalid)
	}
	return out, nil
}
