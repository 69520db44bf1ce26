package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// Invoices are priced from the catalogue. An Invoice lists its ChargeItems
// (lineItem.chargeItemReference, "ChargeItem/<id>", each a record of the
// Invoice's patient that the writer may read; each read is logged). A
// ChargeItem's price is its priceOverride, else the base priceComponent of
// the active ChargeItemDefinition (an organization record) whose url its
// definitionCanonical names, times its quantity (default 1). PriceInvoice
// writes each line's priceComponent and the Invoice's totalNet and
// totalGross; a line or total the writer gave that differs is a
// *PriceError naming the computed value, as is a ChargeItem without a
// price or lines in several currencies. An Invoice without lines is left
// as it is. FHIR writes (fhirrest) and charge capture (charges.go) price
// through it.

// PriceError is an Invoice that cannot be priced as written: Path names
// the element (Invoice.lineItem[1]), Err says why.
type PriceError struct {
	Path string
	Err  error
}

func (e *PriceError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *PriceError) Unwrap() error { return e.Err }

// PriceInvoice fills in the prices of inv, an Invoice of patient decoded
// with DecodeExact, reading its ChargeItems as requester for purpose.
func (s *Service) PriceInvoice(ctx context.Context, requester string, purpose consent.Purpose, patient string, inv map[string]any) error {
	lines := asList(inv["lineItem"])
	if len(lines) == 0 {
		return nil
	}
	v := s.latest()
	total, currency := new(big.Rat), ""
	for i, l := range lines {
		path := fmt.Sprintf("Invoice.lineItem[%d]", i)
		line, _ := l.(map[string]any)
		amount, cur, err := s.linePrice(ctx, v, requester, purpose, patient, line)
		if err != nil {
			return &PriceError{Path: path, Err: err}
		}
		if currency != "" && cur != currency {
			return &PriceError{Path: path, Err: fmt.Errorf("priced in %s, the lines before in %s: one Invoice has one currency", cur, currency)}
		}
		currency = cur
		if err := setPrice(line, "priceComponent", []any{map[string]any{"type": "base", "amount": money(amount, cur)}}); err != nil {
			return &PriceError{Path: path + ".priceComponent", Err: err}
		}
		total.Add(total, amount)
	}
	for _, field := range []string{"totalNet", "totalGross"} {
		if err := setPrice(inv, field, money(total, currency)); err != nil {
			return &PriceError{Path: "Invoice." + field, Err: err}
		}
	}
	return nil
}

// linePrice is the price of an Invoice line's ChargeItem and its currency.
func (s *Service) linePrice(ctx context.Context, v *ledger.View, requester string, purpose consent.Purpose, patient string, line map[string]any) (*big.Rat, string, error) {
	ref, _ := line["chargeItemReference"].(map[string]any)
	id, ok := strings.CutPrefix(fmt.Sprint(ref["reference"]), "ChargeItem/")
	if !ok {
		return nil, "", errors.New("a priced line names its ChargeItem in chargeItemReference (ChargeItem/<id>)")
	}
	rec, err := s.Read(ctx, requester, id, 0, purpose)
	if err != nil || rec.ResourceType != "ChargeItem" || rec.Patient != patient || rec.Deleted {
		return nil, "", fmt.Errorf("ChargeItem/%s is not a ChargeItem of the Invoice's patient that the writer may read", id)
	}
	item, err := DecodeExact(rec.Resource)
	if err != nil {
		return nil, "", err
	}
	unit, cur, err := unitPrice(v, id, item)
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
	canon := asList(item["definitionCanonical"])
	if len(canon) == 0 {
		return nil, "", fmt.Errorf("ChargeItem/%s has no priceOverride and names no ChargeItemDefinition (definitionCanonical)", id)
	}
	defs, err := activeDefinitions(v, "")
	if err != nil {
		return nil, "", err
	}
	for _, def := range defs {
		if def.URL != canon[0] {
			continue
		}
		if def.price == nil {
			return nil, "", fmt.Errorf("ChargeItemDefinition %v has no base price", canon[0])
		}
		return amountOf(def.price)
	}
	return nil, "", fmt.Errorf("no active ChargeItemDefinition has the url %v", canon[0])
}

// definition is an active ChargeItemDefinition of the catalogue.
type definition struct {
	Org, URL, Title string
	Codes           []coding
	price           map[string]any // the base priceComponent's amount, nil if none
	res             map[string]any
}

type coding struct{ System, Code string }

// activeDefinitions are the active ChargeItemDefinitions of org (every
// organization's if org is ""), in the ledger's order.
func activeDefinitions(v *ledger.View, org string) ([]definition, error) {
	heads, err := v.OrgRecords("ChargeItemDefinition")
	if err != nil {
		return nil, err
	}
	var out []definition
	for _, h := range heads {
		if h.Deleted || org != "" && h.Org != org {
			continue
		}
		rv, err := v.OrgRecordVersion("ChargeItemDefinition", h.ID, h.Latest)
		if err != nil || rv.Deleted {
			continue
		}
		res, err := DecodeExact(rv.Resource)
		if err != nil || res["status"] != "active" {
			continue
		}
		d := definition{Org: h.Org, res: res, Codes: codingsOf(res["code"])}
		d.URL, _ = res["url"].(string)
		d.Title, _ = res["title"].(string)
		d.price = basePrice(res)
		out = append(out, d)
	}
	return out, nil
}

// basePrice is the amount of a ChargeItemDefinition's first base
// priceComponent, or nil.
func basePrice(def map[string]any) map[string]any {
	for _, g := range asList(def["propertyGroup"]) {
		group, _ := g.(map[string]any)
		for _, pc := range asList(group["priceComponent"]) {
			if pc, _ := pc.(map[string]any); pc["type"] == "base" {
				if m, ok := pc["amount"].(map[string]any); ok {
					return m
				}
			}
		}
	}
	return nil
}

// codingsOf are the codings of a CodeableConcept.
func codingsOf(cc any) []coding {
	m, _ := cc.(map[string]any)
	var out []coding
	for _, c := range asList(m["coding"]) {
		c, _ := c.(map[string]any)
		system, _ := c["system"].(string)
		code, _ := c["code"].(string)
		if code != "" {
			out = append(out, coding{system, code})
		}
	}
	return out
}

// DecodeExact decodes a JSON object with its numbers as written
// (json.Number), so prices are computed exactly.
func DecodeExact(b []byte) (map[string]any, error) {
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
		v, err := DecodeExact([]byte(`{"v":` + string(raw) + `}`))
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
