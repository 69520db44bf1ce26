package fhirrest_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// withCheckDigit is the GTIN-14 of its first 13 digits: with GS1's check digit.
func withCheckDigit(first13 string) string {
	for d := '0'; d <= '9'; d++ {
		if g := first13 + string(d); supply.ValidGTIN(g) {
			return g
		}
	}
	panic("no check digit for " + first13)
}

// Products setupProducts registers beside setupSupply's open drug
// supplyGTIN (an NDC-based GTIN, no form or strength): a private drug of a
// GTIN that holds no NDC, and a device.
var (
	privateDrugGTIN = withCheckDigit("0541234500002")
	deviceGTIN      = withCheckDigit("0541234500009")
)

// setupProducts is setupSupply with acme's private drug privateDrugGTIN
// (Ibuprofen 200 mg tablets) and device deviceGTIN (an infusion pump).
func setupProducts(t *testing.T) *env {
	t.Helper()
	e := setupSupply(t)
	for _, p := range []tx.SupplyProduct{
		{GTIN: privateDrugGTIN, Name: "Ibuprofen 200 mg", Form: "tablet", Strength: "200 mg", Kind: supply.KindDrug, Private: true},
		{GTIN: deviceGTIN, Name: "Infusion pump P1", Form: "volumetric infusion pump", Kind: supply.KindDevice},
	} {
		k := make([]byte, supply.KeySize)
		rand.Read(k)
		wrap, err := records.WrapProductKey(e.n.App().Latest(), k, p.GTIN, "acme")
		if err != nil {
			t.Fatal(err)
		}
		p.KeyWrap = wrap
		e.submit("acme/admin", tx.TypeSupplyProduct, &p)
	}
	return e
}

// jsonAt is the JSON of v at dotted path, array indexes as numbers
// ("code.coding.1.code"), or "" if absent.
func jsonAt(v any, path string) string {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				return ""
			}
			v = x[i]
		default:
			return ""
		}
	}
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRegisteredProductsAreMedicationsAndDevices: a registered drug is
// served as an R4 Medication, a device as a Device, id gtin-<GTIN>, to
// any authenticated member (a pharmacy, a hospital's physician, a
// patient), valid R4: the GTIN as code and identifier (GS1), the NDC an
// NDC-based GTIN holds, the name, form, strength (extension) and the
// manufacturer; a device's GTIN as its GS1 UDI device identifier. A
// private product is served too. An unknown GTIN, an id that is no GTIN
// and a product read as the other type are 404 OperationOutcomes; no
// token is 401.
func TestRegisteredProductsAreMedicationsAndDevices(t *testing.T) {
	e := setupProducts(t)
	pharm, dr, pt := e.token("pharm/admin"), e.token("hosp-a/dr-a"), e.patientToken()
	for _, tok := range []string{pharm, dr, pt} {
		r := e.do("GET", "/fhir/Medication/gtin-"+supplyGTIN, tok, nil)
		if r.status != 200 {
			t.Fatalf("read of the drug: %d %s", r.status, r.rawBody)
		}
		validR4(t, r, "Medication")
		for path, want := range map[string]string{
			"resourceType": "Medication", "id": "gtin-" + supplyGTIN, "status": "active",
			"code.text":            "Amoxicillin 500 mg",
			"code.coding.0.system": fhirrest.GTINCodeSystem, "code.coding.0.code": supplyGTIN,
			"code.coding.1.system": fhirrest.NDCCodeSystem, "code.coding.1.code": "1234567890",
			"identifier.0.system": fhirrest.GTINCodeSystem, "identifier.0.value": supplyGTIN,
			"manufacturer.reference": "Organization/acme", "manufacturer.display": "acme",
			"form": "", "extension": "", // registered with neither
		} {
			if got := jsonAt(r.body, path); got != want {
				t.Errorf("Medication %s = %q, want %q", path, got, want)
			}
		}
		if src := jsonAt(r.body, "meta.source"); !strings.HasPrefix(src, "urn:carechain:ledger:block:") {
			t.Errorf("meta.source %q", src)
		}
	}
	priv := e.do("GET", "/fhir/Medication/gtin-"+privateDrugGTIN, pharm, nil)
	if priv.status != 200 {
		t.Fatalf("read of the private drug: %d %s", priv.status, priv.rawBody)
	}
	validR4(t, priv, "Medication")
	for path, want := range map[string]string{
		"code.text": "Ibuprofen 200 mg", "form.text": "tablet", "code.coding.1": "", // its GTIN holds no NDC
		"extension.0.url": fhirrest.StrengthURL, "extension.0.valueString": "200 mg",
	} {
		if got := jsonAt(priv.body, path); got != want {
			t.Errorf("private Medication %s = %q, want %q", path, got, want)
		}
	}
	dev := e.do("GET", "/fhir/Device/gtin-"+deviceGTIN, dr, nil)
	if dev.status != 200 {
		t.Fatalf("read of the device: %d %s", dev.status, dev.rawBody)
	}
	validR4(t, dev, "Device")
	for path, want := range map[string]string{
		"resourceType": "Device", "id": "gtin-" + deviceGTIN, "status": "active", "manufacturer": "acme",
		"udiCarrier.0.deviceIdentifier": deviceGTIN, "udiCarrier.0.issuer": fhirrest.GS1DIIssuer,
		"deviceName.0.name": "Infusion pump P1", "deviceName.0.type": "manufacturer-name",
		"type.text": "volumetric infusion pump", "identifier.0.value": deviceGTIN,
	} {
		if got := jsonAt(dev.body, path); got != want {
			t.Errorf("Device %s = %q, want %q", path, got, want)
		}
	}
	unknown := withCheckDigit("0031234567899")
	for _, path := range []string{"/fhir/Medication/gtin-" + unknown, "/fhir/Medication/" + supplyGTIN, "/fhir/Medication/gtin-00312345678907",
		"/fhir/Device/gtin-" + supplyGTIN, "/fhir/Medication/gtin-" + deviceGTIN} {
		r := e.do("GET", path, pharm, nil)
		r.outcome(t, 404, "not found")
		validR4(t, r, "OperationOutcome")
	}
	e.do("GET", "/fhir/Medication/gtin-"+supplyGTIN, "", nil).outcome(t, 401, "bearer token")
	e.do("GET", "/fhir/Device", "", nil).outcome(t, 401, "bearer token")
}

// TestProductSearch: a search of Medication or Device finds the registered
// products of its kind by the parameters the CapabilityStatement lists for
// it (and lists exactly those, with read and search-type only), all of
// them without a parameter, the private product included; a search that
// finds none is an empty searchset Bundle; another parameter is refused,
// 400 not-supported. Every Bundle is valid R4.
func TestProductSearch(t *testing.T) {
	e := setupProducts(t)
	tok := e.token("pharm/admin")
	gs1, ndc := fhirrest.GTINCodeSystem+"|", fhirrest.NDCCodeSystem+"|"
	drug, priv, dev := "gtin-"+supplyGTIN, "gtin-"+privateDrugGTIN, "gtin-"+deviceGTIN
	cases := []struct {
		path string
		want []string
	}{
		{"/fhir/Medication", []string{drug, priv}},
		{"/fhir/Device", []string{dev}},
		{"/fhir/Medication?code=" + url.QueryEscape(gs1+supplyGTIN), []string{drug}},
		{"/fhir/Medication?code=" + supplyGTIN, []string{drug}},
		{"/fhir/Medication?code=" + url.QueryEscape(ndc+"1234567890"), []string{drug}},
		{"/fhir/Medication?code=" + url.QueryEscape(ndc+supplyGTIN), nil},
		{"/fhir/Medication?identifier=" + url.QueryEscape(gs1+privateDrugGTIN), []string{priv}},
		{"/fhir/Medication?identifier=" + url.QueryEscape("urn:other|"+privateDrugGTIN), nil},
		{"/fhir/Medication?_id=" + drug + "," + priv, []string{drug, priv}},
		{"/fhir/Medication?_id=" + dev, nil},
		{"/fhir/Medication?manufacturer=Organization/acme&status=active", []string{drug, priv}},
		{"/fhir/Medication?manufacturer=Organization/pharm", nil},
		{"/fhir/Medication?code=" + url.QueryEscape(gs1+withCheckDigit("0031234567899")), nil},
		{"/fhir/Medication?code:text=ibuprofen", []string{priv}},
		{"/fhir/Device?identifier=" + url.QueryEscape(gs1+deviceGTIN), []string{dev}},
		{"/fhir/Device?udi-di=" + deviceGTIN, []string{dev}},
		{"/fhir/Device?device-name=infusion", []string{dev}},
		{"/fhir/Device?device-name=volumetric", []string{dev}},
		{"/fhir/Device?manufacturer=acme&status=active", []string{dev}},
		{"/fhir/Device?_id=" + drug, nil},
		{"/fhir/Device?status=inactive", nil},
	}
	for _, c := range cases {
		r := e.do("GET", c.path, tok, nil)
		if r.status != 200 || r.body["type"] != "searchset" {
			t.Fatalf("%s: %d %s", c.path, r.status, r.rawBody)
		}
		validR4(t, r, "Bundle")
		var got []string
		entries, _ := r.body["entry"].([]any)
		for _, en := range entries {
			got = append(got, jsonAt(en, "resource.id"))
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) || r.body["total"] != float64(len(want)) {
			t.Errorf("%s: %v (total %v), want %v", c.path, got, r.body["total"], want)
		}
	}
	for _, path := range []string{"/fhir/Medication?form=tablet", "/fhir/Medication?patient=Patient/p", "/fhir/Device?code=" + deviceGTIN,
		"/fhir/Medication?_sort=code", "/fhir/Device?_include=Device:manufacturer"} {
		r := e.do("GET", path, tok, nil)
		if r.status != 400 || r.issueCode() != "not-supported" {
			t.Errorf("%s: %d %s", path, r.status, r.rawBody)
		}
	}
	want := map[string][]string{
		"Medication": {"_id", "code", "identifier", "manufacturer", "status"},
		"Device":     {"_id", "device-name", "identifier", "manufacturer", "status", "udi-di"},
	}
	for _, res := range e.capabilities() {
		params, ok := want[res.Type]
		if !ok {
			continue
		}
		delete(want, res.Type)
		var names, ints []string
		for _, p := range res.SearchParam {
			names = append(names, p.Name)
		}
		for _, i := range res.Interaction {
			ints = append(ints, i.Code)
		}
		slices.Sort(names)
		if slices.Sort(ints); !slices.Equal(ints, []string{"read", "search-type"}) || !slices.Equal(names, params) {
			t.Errorf("CapabilityStatement %s: interactions %v, parameters %v; want read, search-type and %v", res.Type, ints, names, params)
		}
	}
	if len(want) > 0 {
		t.Errorf("CapabilityStatement lacks %v", want)
	}
}

// TestNDCOfGTIN: a GTIN-14 of indicator 0 and GS1 prefix 03 holds a
// 10-digit NDC (unhyphenated: its segments are not in the GTIN); another
// GTIN, a case's (indicator 1) or an invalid one holds none.
func TestNDCOfGTIN(t *testing.T) {
	for _, c := range []struct {
		gtin, ndc string
		ok        bool
	}{
		{"00312345678906", "1234567890", true},
		{withCheckDigit("0030002808011"), "0002808011", true},
		{withCheckDigit("1031234567890"), "", false}, // a case of the NDC's packages
		{withCheckDigit("0541234500001"), "", false}, // EU prefix
		{withCheckDigit("0041234567890"), "", false}, // US, not NDC-based
		{"00312345678907", "", false},                // bad check digit
		{"0031234567890", "", false},                 // 13 digits
	} {
		if ndc, ok := fhirrest.NDCOf(c.gtin); ndc != c.ndc || ok != c.ok {
			t.Errorf("NDCOf(%s) = %q, %v; want %q, %v", c.gtin, ndc, ok, c.ndc, c.ok)
		}
	}
}

// TestDispenseMayReferenceTheProductsMedication: a MedicationDispense of
// serialized units may name its medication as the product's catalogue
// definition (medicationReference Medication/gtin-<GTIN>): it is written,
// the units are dispensed, and the reference reads the Medication.
func TestDispenseMayReferenceTheProductsMedication(t *testing.T) {
	e := setupSupply(t)
	ph := e.registerStaff("pharm", "pharm/pharmacist", carechain.RolePharmacist)
	body := strings.Replace(string(dispenseOf("SNQX-1")), `"medicationCodeableConcept":{"text":"Amoxicillin 500 mg"}`,
		`"medicationReference":{"reference":"Medication/gtin-`+supplyGTIN+`"}`, 1)
	if !strings.Contains(body, "medicationReference") {
		t.Fatal("the dispense names no medicationReference")
	}
	r := e.do("POST", "/fhir/MedicationDispense", ph, []byte(body))
	if r.status != 201 {
		t.Fatalf("dispense naming the product's Medication: %d %s", r.status, r.rawBody)
	}
	if u := e.unit("SNQX-1"); u.Status != supply.StatusDispensed {
		t.Fatalf("SNQX-1 is %s, want dispensed", u.Status)
	}
	read := e.do("GET", "/fhir/MedicationDispense/"+r.body["id"].(string), e.patientToken(), nil)
	ref := jsonAt(read.body, "medicationReference.reference")
	if v := verified(t, read.rawBody); read.status != 200 || v["verified"] != true || ref != "Medication/gtin-"+supplyGTIN {
		t.Fatalf("the patient's read: %d %s", read.status, read.rawBody)
	}
	if m := e.do("GET", "/fhir/"+ref, e.patientToken(), nil); m.status != 200 || jsonAt(m.body, "code.text") != "Amoxicillin 500 mg" {
		t.Fatalf("the reference's read: %d %s", m.status, m.rawBody)
	}
}
