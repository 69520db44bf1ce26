package fhirrest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// POST /fhir/Encounter/{id}/$capture-charges charges an encounter
// (records.Service.CaptureCharges): the caller, a billing role, writes one
// ChargeItem per service of the encounter it may read that the
// organization's catalogue prices, and with the parameter invoice
// (valueBoolean true) the Invoice of the encounter's charges not yet
// invoiced. The body, a Parameters, is optional. Reads are for purpose
// billing unless X-Purpose-Of-Use says otherwise. The answer is 200 with
// a Parameters: charged, alreadyCharged and notCharged (each with parts
// service, chargeItem, definition or reason), and invoice or invoiceNote.
// Nothing to charge is not an error: the lists say why.

// captureCharges serves $capture-charges.
func (s *server) captureCharges(w http.ResponseWriter, r *http.Request, c caller) {
	if r.Header.Get("X-Purpose-Of-Use") == "" {
		c.purpose = consent.PurposeBilling
	}
	invoice, err := captureParameters(w, r)
	if err == nil {
		err = c.permits(interaction{typ: "ChargeItem", perm: 'c'})
	}
	if err == nil && invoice {
		err = c.permits(interaction{typ: "Invoice", perm: 'c'})
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	if _, ok := s.visible(w, r, c, "Encounter", r.PathValue("id"), 0, consent.ActionRead); !ok {
		return
	}
	signer, ok := s.signer(w, c)
	if !ok {
		return
	}
	got, err := s.Records.CaptureCharges(r.Context(), signer, records.ChargeCapture{
		Encounter: r.PathValue("id"), Purpose: c.purpose, Invoice: invoice, Keep: c.scopeKeep(nil)})
	switch {
	case errors.Is(err, records.ErrNotVisible):
		s.failErr(w, notFound("Encounter"))
		return
	case err != nil:
		s.failErr(w, priceFailure(err))
		return
	}
	writeFHIR(w, http.StatusOK, capturedParameters(got))
}

// captureParameters reads $capture-charges' optional Parameters: invoice.
func captureParameters(w http.ResponseWriter, r *http.Request) (invoice bool, err error) {
	b, err := readBody(w, r, carechain.MaxSmallRequestBytes)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return false, err
	}
	var ps parameters
	if err := fhirjson.Unmarshal(b, &ps); err != nil {
		return false, fmt.Errorf("the Parameters: %w", err)
	}
	if ps.ResourceType != "Parameters" {
		return false, &requestError{kind: carechain.KindMalformed, code: "structure", err: errors.New("body is not a FHIR Parameters")}
	}
	for _, p := range ps.Parameter {
		if p.Name != "invoice" || p.ValueBoolean == nil || len(ps.Parameter) > 1 {
			return false, badParameter(p.Name, errors.New("the one parameter is invoice (valueBoolean)"))
		}
		invoice = *p.ValueBoolean
	}
	return invoice, nil
}

// capturedParameters is $capture-charges' answer.
func capturedParameters(got *records.Captured) map[string]any {
	var out []any
	for _, list := range []struct {
		name    string
		charges []records.Charge
	}{{"charged", got.Charged}, {"alreadyCharged", got.AlreadyCharged}, {"notCharged", got.NotCharged}} {
		for _, ch := range list.charges {
			parts := []any{map[string]any{"name": "service", "valueReference": map[string]any{"reference": ch.Service, "display": ch.What}}}
			if ch.ChargeItem != "" {
				parts = append(parts, map[string]any{"name": "chargeItem", "valueReference": map[string]any{"reference": ch.ChargeItem}})
			}
			if ch.Definition != "" {
				parts = append(parts, map[string]any{"name": "definition", "valueCanonical": ch.Definition})
			}
			if ch.Reason != "" {
				parts = append(parts, map[string]any{"name": "reason", "valueString": ch.Reason})
			}
			out = append(out, map[string]any{"name": list.name, "part": parts})
		}
	}
	if got.Invoice != "" {
		out = append(out, map[string]any{"name": "invoice", "valueReference": map[string]any{"reference": got.Invoice, "display": got.InvoiceTotal}})
	}
	if got.InvoiceNote != "" {
		out = append(out, map[string]any{"name": "invoiceNote", "valueString": got.InvoiceNote})
	}
	if len(out) == 0 { // FHIR has no empty arrays
		return map[string]any{"resourceType": "Parameters"}
	}
	return map[string]any{"resourceType": "Parameters", "parameter": out}
}
