package records

import (
	"context"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// SupplyFlag flags the unit with serial of product gtin, or with wholeLot
// its whole lot, as suspect for reason: the signer's organization must
// hold the unit (or receive it). The flag is journaled for the
// organization's EPCIS export, as SupplyMove's events are. A unit of a
// private product takes the transfer path (transferAs).
func (s *Service) SupplyFlag(ctx context.Context, signer Signer, gtin, serial string, wholeLot bool, reason string) error {
	if isPrivate(s.latest(), gtin) {
		_, err := s.transferAs(ctx, signer, SupplyTransferRequest{Action: tx.TransferFlag, GTIN: gtin, Serials: []string{serial}, Reason: reason, WholeLot: wholeLot})
		return err
	}
	cs, err := s.commitmentsFor(signer, gtin, []string{serial}, "")
	if err != nil {
		return err
	}
	if _, err = s.submit(ctx, signer, tx.TypeSupplyFlag, &tx.SupplyFlag{GTIN: gtin, Unit: cs.Units[0], WholeLot: wholeLot, Reason: reason}); err != nil {
		return err
	}
	return s.journalAct(signer, supply.Event{Action: supply.ActFlag, GTIN: gtin, Serials: []string{serial}, Reason: reason, WholeLot: wholeLot})
}

// SupplyResolve is the manufacturer's outcome (tx.ResolveConfirm or
// tx.ResolveClear) of a flag on the unit with serial of product gtin or,
// if serial is empty, on lot.
func (s *Service) SupplyResolve(ctx context.Context, signer Signer, gtin, serial, lot, outcome string) error {
	r := &tx.SupplyResolve{GTIN: gtin, Lot: lot, Outcome: outcome}
	if serial != "" {
		cs, err := s.commitmentsFor(signer, gtin, []string{serial}, "")
		if err != nil {
			return err
		}
		r.Unit, r.Lot = cs.Units[0], ""
	}
	_, err := s.submit(ctx, signer, tx.TypeSupplyResolve, r)
	return err
}
