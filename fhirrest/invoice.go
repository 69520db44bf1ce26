package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
)

// Invoices are priced by the server from the catalogue. A written Invoice
// lists its ChargeItems (lineItem.chargeItemReference, "ChargeItem/<id>",
// each a record of the Invoice's patient that the writer may read; each
// read is logged). A ChargeItem's price is its priceOverride, else the
// base priceComponent of the ChargeItemDefinition (an organization record)
// whose url its definitionCanonical names, times its quantity (default 1).
// The server writes each line's priceComponent and the Invoice's totalNet
// and totalGross; a line or total the writer gave that differs is a 400
// naming the computed value, as is a ChargeItem without a price or lines
// in several currencies. An Invoice without lines is written as it is.

// priced is res with its prices filled in if it is an Invoice (res itself
// otherwise).
func (s *server) priced(r *http.Request, c caller, res *fhirjson.Resource) (*fhirjson.Resource, error) {
	if res.Type() != "Invoice" {
		return res, nil
	}
	inv, err := decodeExact(res.Canonical())
	if err != nil {
		return nil, err
	}
	lines, _ := inv["lineItem"].([]any)
	if len(lines) == 0 {
		return res, nil
	}
	patient, err := patientOfResource(res)
	if err != nil {
		return nil, err
	}
	total, currency := new(big.Rat), ""
	for i, l := range lines {
		line, _ := l.(map[string]any)
		amount, cur, err := s.linePrice(r, c, patient, line)
		if err != nil {
			return nil, badPrice(fmt.Sprintf("Invoice.lineItem[%d]", i), err)
		}
		if currency != "" && cur != currency {
			return nil, badPrice(fmt.Sprintf("Invoice.lineItem[%d]", i), fmt.Errorf("priced in %s, the lines before in %s: one Invoice has one currency", cur, currency))
		}
		currency = cur
		if err := setPrice(line, "priceComponent", []any{map[string]any{"type": "base", "amount": money(amount, cur)}}); err != nil {
			return nil, badPrice(fmt.Sprintf("Invoice.lineItem[%d].priceComponent", i), err)
		}
		total.Add(total, amount)
	}
	for _, field := range []string{"totalNet", "totalGross"} {
		if err := setPrice(inv, field, money(total, currency)); err != nil {
			return nil, badPrice("Invoice."+field, err)
		}
	}
	body, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	return parseAs(body, "Invoice")
}

// linePrice is the price of an Invoice line's ChargeItem and its currency.
func (s *server) linePrice(r *http.Request, c caller, patient string, line map[string]any) (*big.Rat, string, error) {
	ref, _ := line["chargeItemReference"].(map[string]any)
	id, ok := strings.CutPrefix(fmt.Sprint(ref["reference"]), "ChargeItem/")
	if !ok {
		return nil, "", errors.New("a priced line names its ChargeItem in chargeItemReference (ChargeItem/<id>)")
	}
	rec, err := s.Records.Read(r.Context(), c.principal.ID, id, 0, c.purpose)
	if err != nil || rec.ResourceType != "ChargeItem" || rec.Patient != patient || rec.Deleted {
		return nil, "", fmt.Errorf("ChargeItem/%s is not a ChargeItem of the Invoice's patient that the writer may read", id)
	}
	item, err := decodeExact(rec.Resource)
	if err != nil {
		return nil, "", err
	}
	unit, cur, err := unitPrice(c.view, id, item)
	if err != nil {
		return nil, "", err
	}
	qty := big.NewRat(1, 1)
	quantity, _ := item["quantity"].(map[string]any)
	if q, ok := quantity["value"]; ok {
		if _, ok := qty.SetString(fmt.Sprint(q)); !ok {
			return nil, "", fmt.Errorf("ChargeItem/%s's quantity %v is not a number", id, q)
		}
	}
	return unit.Mul(unit, qty), cur, nil
}

// unitPrice is a ChargeItem's price per unit: its priceOverride, else the
// base price of the ChargeItemDefinition its definitionCanonical names.
func unitPrice(v *ledger.View, id string, item map[string]any) (*big.Rat, string, error) {
	if m, ok := item["priceOverride"].(map[string]any); ok {
		return amountOf(m)
	}
	canon, _ := item["definitionCanonical"].([]any)
	if len(canon) == 0 {
		return nil, "", fmt.Errorf("ChargeItem/%s has no priceOverride and names no ChargeItemDefinition (definitionCanonical)", id)
	}
	heads, err := v.OrgRecords("ChargeItemDefinition")
	if err != nil {
		return nil, "", err
	}
	for _, h := range heads {
		rv, err := v.OrgRecordVersion("ChargeItemDefinition", h.ID, h.Latest)
		if err != nil || rv.Deleted {
			continue
		}
		def, err := decodeExact(rv.Resource)
		if err != nil || def["url"] != canon[0] || def["status"] != "active" {
			continue
		}
		for _, g := range asList(def["propertyGroup"]) {
			group, _ := g.(map[string]any)
			for _, pc := range asList(group["priceComponent"]) {
				if pc, _ := pc.(map[string]any); pc["type"] == "base" {
					if m, ok := pc["amount"].(map[string]any); ok {
						return amountOf(m)
					}
				}
			}
		}
		return nil, "", fmt.Errorf("ChargeItemDefinition %v has no base price", canon[0])
	}
	return nil, "", fmt.Errorf("no active ChargeItemDefinition has the url %v", canon[0])
}

// decodeExact decodes a JSON object with its numbers as written.
func decodeExact(b []byte) (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// amountOf reads a Money: its value and currency (both required here).
func amountOf(m map[string]any) (*big.Rat, string, error) {
	cur, _ := m["currency"].(string)
	v, ok := new(big.Rat).SetString(fmt.Sprint(m["value"]))
	if !ok || cur == "" {
		return nil, "", fmt.Errorf("a price needs a value and a currency, not %v", m)
	}
	return v, cur, nil
}

// money is a Money of amount in currency, to the cent.
func money(amount *big.Rat, currency string) map[string]any {
	return map[string]any{"value": json.Number(amount.FloatString(2)), "currency": currency}
}

// setPrice sets obj[field] to want unless the writer gave another value.
func setPrice(obj map[string]any, field string, want any) error {
	wantJSON, _ := json.Marshal(want)
	if given, ok := obj[field]; ok {
		givenJSON, _ := json.Marshal(given)
		if !samePrice(givenJSON, wantJSON) {
			return fmt.Errorf("is %s, but the catalogue prices it %s", givenJSON, wantJSON)
		}
	}
	obj[field] = want
	return nil
}

// samePrice compares two JSON prices by their amounts' values, so that 240
// and 240.00 agree.
func samePrice(a, b []byte) bool {
	norm := func(raw []byte) string {
		v, err := decodeExact([]byte(`{"v":` + string(raw) + `}`))
		if err != nil {
			return string(raw)
		}
		out, _ := json.Marshal(normalizeNumbers(v))
		return string(out)
	}
	return norm(a) == norm(b)
}

// normalizeNumbers rewrites every number in v as its exact rational.
func normalizeNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if r, ok := new(big.Rat).SetString(v.String()); ok {
			return r.RatString()
		}
	case map[string]any:
		for k, e := range v {
			v[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = normalizeNumbers(e)
		}
	}
	return v
}

func badPrice(path string, err error) error {
	return &requestError{kind: carechain.KindMalformed, code: "business-rule", path: path, err: err}
}
