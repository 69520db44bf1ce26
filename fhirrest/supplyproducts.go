package fhirrest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
)

// Registered products (ledger supply.product) as FHIR R4 catalogue
// definitions: a drug as a Medication, a device as a Device, each with the
// id gtin-<GTIN-14>. They are views (views.go): read and searched by any
// authenticated member, built from the ledger's state at each request and
// never stored. A product's registration is plain, public catalogue data
// (its owner, name, form and strength): a private product (supply.Product
// Private) is served like an open one, since only its units' custody is
// private. Medication and Device are served for nothing else here (no
// record is of these types), so the catalogue is all their search finds.

// Systems and extensions of a product's definition.
const (
	// GTINCodeSystem is GS1's GTIN code system (HL7 terminology): a
	// Medication's code, either type's identifier.
	GTINCodeSystem = "https://www.gs1.org/gtin"
	// NDCCodeSystem is the US National Drug Code's (HL7 terminology).
	NDCCodeSystem = "http://hl7.org/fhir/sid/ndc"
	// GS1DIIssuer is the issuer of a GS1 UDI device identifier (a
	// Device's udiCarrier).
	GS1DIIssuer = "http://hl7.org/fhir/NamingSystem/gs1-di"
	// StrengthURL carries a product's strength as registered, free text:
	// R4's Medication.ingredient.strength is a Ratio of an ingredient
	// (item[x], required) the ledger does not record.
	StrengthURL = "urn:carechain:strength"
	// ProductIDPrefix prefixes a product's GTIN in its id.
	ProductIDPrefix = "gtin-"
)

// productTypes are the resource types of products, with the kind each is.
var productTypes = map[string]supply.Kind{"Medication": supply.KindDrug, "Device": supply.KindDevice}

// productReadDoc documents the read of the product types.
const productReadDoc = "id gtin-<GTIN-14>: a product registered on the ledger (supply.product) as a catalogue definition, to any authenticated member; a private product too (only its units' custody is private). Built from the ledger's state, never stored; meta.source names the block that registered it."

// productSearchDoc adds to viewSearchDoc what a product search finds.
const productSearchDoc = " Every registered product of the type's kind (drugs as Medication, devices as Device); no parameter: all of them."

// productSource is meta.source of a product registered at height: the
// ledger's block, which has the registration (the ledger keeps no time of
// it, so there is no meta.lastUpdated).
func productSource(height int64) string { return fmt.Sprintf("urn:carechain:ledger:block:%d", height) }

// productResource is product id of typ ("gtin-<GTIN>"); ledger.ErrNotFound
// if none is registered, or it is of the other kind.
func productResource(c caller, typ, id string) (map[string]any, error) {
	c.deid.markHandled() // catalogue data, not a patient's: a researcher reads it as it is
	gtin, ok := strings.CutPrefix(id, ProductIDPrefix)
	if !ok || !supply.ValidGTIN(gtin) {
		return nil, ledger.ErrNotFound
	}
	p, err := c.view.SupplyProduct(gtin)
	if err != nil {
		return nil, err
	}
	if p.Kind != productTypes[typ] {
		return nil, ledger.ErrNotFound
	}
	return productAs(c.view, p)
}

// products lists the registered products of the kind of the type searched
// for, by GTIN.
func products(r *http.Request, c caller) ([]any, error) {
	c.deid.markHandled()
	kind := productTypes[r.PathValue("type")]
	var gtins []string
	prefix := supply.ProductKey("")
	if err := c.view.Scan(prefix, func(key string, _ []byte) error {
		gtins = append(gtins, strings.TrimPrefix(key, prefix))
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing products: %w", err)
	}
	var out []any
	for _, g := range gtins {
		p, err := c.view.SupplyProduct(g)
		if err != nil {
			return nil, err
		}
		if p.Kind != kind {
			continue
		}
		res, err := productAs(c.view, p)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// productAs is p as a Medication (a drug) or a Device, its manufacturer
// named as the ledger has its owner.
func productAs(v *ledger.View, p *supply.Product) (map[string]any, error) {
	maker := p.Owner
	if o, err := v.Organization(p.Owner); err == nil {
		maker = o.Name
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	if p.Kind == supply.KindDevice {
		return device(p, maker), nil
	}
	return medication(p, maker), nil
}

// productCommon are the elements both definitions have.
func productCommon(typ string, p *supply.Product) map[string]any {
	res := map[string]any{
		"resourceType": typ, "id": ProductIDPrefix + p.GTIN,
		"meta":       map[string]any{"source": productSource(p.Height)},
		"identifier": []map[string]any{{"system": GTINCodeSystem, "value": p.GTIN}},
		"status":     "active",
	}
	if p.Strength != "" {
		res["extension"] = []map[string]any{{"url": StrengthURL, "valueString": p.Strength}}
	}
	return res
}

// medication is drug p as an R4 Medication: code the GTIN (and the NDC a
// US NDC-based GTIN holds), with the product's name as its text.
func medication(p *supply.Product, maker string) map[string]any {
	codings := []map[string]any{{"system": GTINCodeSystem, "code": p.GTIN, "display": p.Name}}
	if ndc, ok := NDCOf(p.GTIN); ok {
		codings = append(codings, map[string]any{"system": NDCCodeSystem, "code": ndc})
	}
	res := productCommon("Medication", p)
	res["code"] = map[string]any{"coding": codings, "text": p.Name}
	res["manufacturer"] = map[string]any{"reference": "Organization/" + p.Owner, "display": maker}
	if p.Form != "" {
		res["form"] = map[string]any{"text": p.Form}
	}
	return res
}

// device is device p as an R4 Device: its GTIN as the UDI's device
// identifier (GS1), its name as the manufacturer's, its form as its type.
// R4 Device.manufacturer is a name, not a reference.
func device(p *supply.Product, maker string) map[string]any {
	res := productCommon("Device", p)
	res["udiCarrier"] = []map[string]any{{"deviceIdentifier": p.GTIN, "issuer": GS1DIIssuer}}
	res["deviceName"] = []map[string]any{{"name": p.Name, "type": "manufacturer-name"}}
	res["manufacturer"] = maker
	if p.Form != "" {
		res["type"] = map[string]any{"text": p.Form}
	}
	return res
}

// NDCOf is the US National Drug Code a GTIN-14 holds: a GTIN of indicator
// digit 0 and GS1 prefix 03 ("003") carries a 10-digit NDC in its digits
// 4 to 13, before the check digit. Its segments (4-4-2, 5-3-2 or 5-4-1)
// depend on the labeler code's length, which the GTIN does not hold: the
// NDC is given as its 10 digits, unhyphenated. Higher packaging levels
// (indicator 1-8) name a case, not the NDC's package: no NDC.
func NDCOf(gtin string) (string, bool) {
	if !supply.ValidGTIN(gtin) || !strings.HasPrefix(gtin, "003") {
		return "", false
	}
	return gtin[3:13], true
}
