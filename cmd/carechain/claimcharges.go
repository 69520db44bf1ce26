package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"slices"
)

// A claim from an encounter's charge items (claim submit --from-encounter):
// the billable ChargeItems whose context is the encounter, read for
// billing through the FHIR API, each priced by its priceOverride or by the
// base price of the ChargeItemDefinition its definitionCanonical names, as
// the node prices an Invoice.

type chargeItemJSON struct {
	ID       string      `json:"id"`
	Status   string      `json:"status"`
	Subject  refJSON     `json:"subject"`
	Code     codingsJSON `json:"code"`
	Quantity *struct {
		Value json.Number `json:"value"`
	} `json:"quantity"`
	PriceOverride       *moneyJSON `json:"priceOverride"`
	DefinitionCanonical []string   `json:"definitionCanonical"`
}

type chargeDefinitionJSON struct {
	URL           string `json:"url"`
	PropertyGroup []struct {
		PriceComponent []struct {
			Type   string     `json:"type"`
			Amount *moneyJSON `json:"amount"`
		} `json:"priceComponent"`
	} `json:"propertyGroup"`
}

// basePrice is the amount of the first base price component of def.
func (def *chargeDefinitionJSON) basePrice() *moneyJSON {
	for _, g := range def.PropertyGroup {
		for _, pc := range g.PriceComponent {
			if pc.Type == "base" {
				return pc.Amount
			}
		}
	}
	return nil
}

// chargeLines are the claim lines of the billable ChargeItems of
// encounter, which must all be of patient.
func chargeLines(ctx context.Context, f *fhirSession, encounter, patient string) ([]claimLine, error) {
	billing := *f
	billing.purpose = "billing"
	var items bundleJSON[chargeItemJSON]
	if err := billing.do(ctx, "GET", "/fhir/ChargeItem?"+url.Values{"patient": {patientRef(patient)}, "context": {"Encounter/" + encounter}}.Encode(), nil, &items); err != nil {
		return nil, fmt.Errorf("the charge items of Encounter/%s: %w", encounter, err)
	}
	var defs []chargeDefinitionJSON
	var lines []claimLine
	for _, it := range items.resources() {
		if it.Status != "billable" {
			continue
		}
		if it.Subject.Reference != patientRef(patient) {
			return nil, fmt.Errorf("ChargeItem/%s of Encounter/%s is of %s, not %s", it.ID, encounter, it.Subject.Reference, patientRef(patient))
		}
		if len(it.Code.Coding) == 0 || it.Code.Coding[0].System == "" || it.Code.Coding[0].Code == "" {
			return nil, fmt.Errorf("ChargeItem/%s has no coded code (a system and a code): claim it with --item", it.ID)
		}
		l := claimLine{system: it.Code.Coding[0].System, code: it.Code.Coding[0].Code, quantity: 1}
		if it.Quantity != nil {
			q, ok := new(big.Rat).SetString(it.Quantity.Value.String())
			if !ok || !q.IsInt() || !q.Num().IsInt64() || q.Sign() <= 0 {
				return nil, fmt.Errorf("ChargeItem/%s: quantity %s is not a whole number above 0", it.ID, it.Quantity.Value)
			}
			l.quantity = q.Num().Int64()
		}
		price := it.PriceOverride
		if price == nil && len(it.DefinitionCanonical) > 0 {
			if defs == nil {
				var b bundleJSON[chargeDefinitionJSON]
				if err := billing.do(ctx, "GET", "/fhir/ChargeItemDefinition?status=active", nil, &b); err != nil {
					return nil, fmt.Errorf("the price list: %w", err)
				}
				defs = append(b.resources(), chargeDefinitionJSON{}) // not nil: read once
			}
			if i := slices.IndexFunc(defs, func(d chargeDefinitionJSON) bool { return d.URL == it.DefinitionCanonical[0] }); i >= 0 {
				price = defs[i].basePrice()
			}
		}
		if price == nil {
			return nil, fmt.Errorf("ChargeItem/%s has no priceOverride, and no active ChargeItemDefinition gives its definitionCanonical %v a base price", it.ID, it.DefinitionCanonical)
		}
		l.price, l.currency = price.Value, price.Currency
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("Encounter/%s has no billable ChargeItems: capture them first (POST /fhir/Encounter/%s/$capture-charges), or give --item", encounter, encounter)
	}
	return lines, nil
}
