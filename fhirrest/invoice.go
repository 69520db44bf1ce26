package fhirrest

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// Invoices are priced by the server from the catalogue
// (records.Service.PriceInvoice): a line or total the writer gave that the
// catalogue disagrees with, a ChargeItem without a price and lines in
// several currencies are 400s naming the element and the computed value.

// priced is res with its prices filled in if it is an Invoice (res itself
// otherwise).
func (s *server) priced(r *http.Request, c caller, res *fhirjson.Resource) (*fhirjson.Resource, error) {
	if res.Type() != "Invoice" {
		return res, nil
	}
	inv, err := records.DecodeExact(res.Canonical())
	if err != nil {
		return nil, err
	}
	if lines, _ := inv["lineItem"].([]any); len(lines) == 0 {
		return res, nil
	}
	patient, err := patientOfResource(res)
	if err != nil {
		return nil, err
	}
	if err := s.Records.PriceInvoice(r.Context(), c.principal.ID, c.purpose, patient, inv); err != nil {
		return nil, priceFailure(err)
	}
	body, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	return parseAs(body, "Invoice")
}

// priceFailure maps an Invoice that cannot be priced to a 400 naming the
// element.
func priceFailure(err error) error {
	var pe *records.PriceError
	if errors.As(err, &pe) {
		return &requestError{kind: carechain.KindMalformed, code: "business-rule", path: pe.Path, err: pe.Err}
	}
	return err
}
