package fhirrest

import (
	"cmp"
	"encoding/json"
	"fmt"

	"github.com/carechain/carechain/records"
)

// SupplyVerifiedURL is the extension the server adds to a completed
// MedicationDispense that names serialized units (records.DispensedUnitURL):
// whether the ledger, when the resource is read, has every unit genuine and
// dispensed by the dispense's author's organization. It is recomputed at
// each read and never stored: one a writer puts in is dropped when the
// resource is served. FHIR forbids an extension both a value and
// sub-extensions, so it is a complex extension:
//
//	{"url": "urn:carechain:supply-verified", "extension": [
//	  {"url": "verified", "valueBoolean": true},
//	  {"url": "product", "valueString": "<the GTIN's registered name>"},
//	  {"url": "gtin", "valueString": "<GTIN-14>"},
//	  {"url": "summary", "valueString": "Verified genuine: …"}]}
const SupplyVerifiedURL = "urn:carechain:supply-verified"

// withSupply replaces any SupplyVerifiedURL extension of m, a
// MedicationDispense, with the one the ledger's state sup gives (none if
// nil). The other extensions are kept byte for byte (a decimal keeps its
// precision).
func withSupply(m map[string]json.RawMessage, sup *records.DispensedSupply) error {
	var exts []json.RawMessage
	if raw, ok := m["extension"]; ok {
		if err := json.Unmarshal(raw, &exts); err != nil {
			return fmt.Errorf("MedicationDispense.extension: %w", err)
		}
	}
	kept := exts[:0:0]
	for _, e := range exts {
		var head struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(e, &head); err != nil {
			return fmt.Errorf("MedicationDispense.extension: %w", err)
		}
		if head.URL != SupplyVerifiedURL {
			kept = append(kept, e)
		}
	}
	if sup != nil {
		ext, _ := json.Marshal(map[string]any{"url": SupplyVerifiedURL, "extension": []map[string]any{
			{"url": "verified", "valueBoolean": sup.Verified()},
			{"url": "product", "valueString": cmp.Or(sup.Product, "unregistered product")},
			{"url": "gtin", "valueString": sup.GTIN},
			{"url": "summary", "valueString": sup.Verdict()},
		}})
		kept = append(kept, ext)
	}
	if len(kept) == len(exts) && sup == nil {
		return nil // nothing to change
	}
	if len(kept) == 0 {
		delete(m, "extension")
		return nil
	}
	m["extension"], _ = json.Marshal(kept)
	return nil
}
