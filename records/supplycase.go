package records

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/supply"
)

// Cases and pallets on the node (supply/case.go): the ledger knows a case
// by the commitment of its SSCC under the key of the product it holds, so
// the node that opens that key computes it, as it computes serials'.

// SupplyCaseCommitments returns the commitments of the cases with SSCCs
// ssccs holding units of gtin, for caller's organization, and, as
// SupplyCommitments does, the product key wrapped to shareWith if it holds
// none yet (for a ship).
func (s *Service) SupplyCaseCommitments(caller *carechain.Principal, gtin string, ssccs []string, shareWith string) ([][]byte, []byte, error) {
	if err := supply.CheckGTIN(gtin); err != nil {
		return nil, nil, carechain.E(carechain.KindInvalid, err)
	}
	if len(ssccs) == 0 || len(ssccs) > supply.MaxCasesPerMove {
		return nil, nil, carechain.E(carechain.KindInvalid, fmt.Errorf("name 1 to %d SSCCs", supply.MaxCasesPerMove))
	}
	for i, sscc := range ssccs {
		if err := supply.CheckSSCC(sscc); err != nil {
			return nil, nil, carechain.E(carechain.KindInvalid, fmt.Errorf("SSCC #%d: %w", i, err))
		}
	}
	v := s.latest()
	k, err := s.productKey(v, caller, gtin)
	if err != nil {
		return nil, nil, err
	}
	defer clear(k)
	out := make([][]byte, len(ssccs))
	for i, sscc := range ssccs {
		out[i] = supply.CaseCommitment(k, gtin, sscc)
	}
	wrap, err := keyFor(v, k, gtin, shareWith)
	if err != nil {
		return nil, nil, err
	}
	return out, wrap, nil
}

// caseSSCC finds the SSCC of the case of gtin with commitment c among the
// events of caller's organization's supply journal (newest first): the
// ledger holds only the commitment. Empty if none names it.
func (s *Service) caseSSCC(caller *carechain.Principal, gtin string, c []byte) string {
	events, err := s.SupplyEvents(caller, supply.EventQuery{EPCs: []string{supply.DigitalLinkPrefix + gtin + "/21/*"}})
	if err != nil {
		return ""
	}
	k, err := s.productKey(s.latest(), caller, gtin)
	if err != nil {
		return ""
	}
	defer clear(k)
	for _, e := range slices.Backward(events) {
		for _, sscc := range e.SSCCs {
			if bytes.Equal(supply.CaseCommitment(k, gtin, sscc), c) {
				return sscc
			}
		}
	}
	return ""
}
