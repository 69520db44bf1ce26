package records

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Supply-chain acts signed by a member whose key this node holds (the
// portal's pages, the demo): each computes the serial commitments on this
// node, as SupplyCommitments does, and submits the transaction. The
// serials are neither stored nor logged.

// SupplyRegister registers product p (its GTIN, name, form, strength and
// kind) for signer's organization, with a fresh product key wrapped to the
// organization.
func (s *Service) SupplyRegister(ctx context.Context, signer Signer, p supply.Product) error {
	me, err := s.latest().Principal(signer.ID)
	if err != nil {
		return err
	}
	k := make([]byte, supply.KeySize)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	defer clear(k)
	wrap, err := WrapProductKey(s.latest(), k, p.GTIN, me.Org)
	if err != nil {
		return err
	}
	_, err = s.submit(ctx, signer, tx.TypeSupplyProduct, &tx.SupplyProduct{GTIN: p.GTIN, Name: p.Name, Form: p.Form, Strength: p.Strength, Kind: p.Kind, KeyWrap: wrap, Private: p.Private})
	return err
}

// SupplyCommission commissions serials of product gtin in lot, expiring
// on expiry (YYYY-MM-DD or YYMMDD).
func (s *Service) SupplyCommission(ctx context.Context, signer Signer, gtin, lot, expiry string, serials []string) error {
	e, err := supply.ParseExpiry(expiry)
	if err != nil {
		return err
	}
	cs, err := s.commitmentsFor(signer, gtin, serials, "")
	if err != nil {
		return err
	}
	body := &tx.SupplyCommission{GTIN: gtin, Lot: lot, Expiry: e, Units: cs.Units}
	if p, err := s.latest().SupplyProduct(gtin); err == nil && p.Private { // to a custody key of the signer's organization
		me, err := s.latest().Principal(signer.ID)
		if err != nil {
			return err
		}
		_, pub, err := s.SupplyCustodyKey(me, gtin, serials)
		if err != nil {
			return err
		}
		body.Custody = pub
	}
	if _, err = s.submit(ctx, signer, tx.TypeSupplyCommission, body); err != nil {
		return err
	}
	return s.journalAct(signer, supply.Event{Action: supply.ActCommission, GTIN: gtin, Serials: serials, Lot: lot, Expiry: e})
}

// journalAct journals an event signer's transaction committed, for its
// organization (supplyjournal.go).
func (s *Service) journalAct(signer Signer, e supply.Event) error {
	v := s.latest()
	me, err := v.Principal(signer.ID)
	if err != nil {
		return err
	}
	e.Org, e.Time = me.Org, s.now().UTC()
	if err := s.journalSupply(v, me.Org, e); err != nil {
		return fmt.Errorf("committed, but not journaled: %w", err)
	}
	return nil
}

// SupplyMove records custody action (tx.MoveShip to to, MoveReceive,
// MoveDispense, MoveDecommission) on serials of product gtin.
// Units of a private product take the transfer path (transferAs).
func (s *Service) SupplyMove(ctx context.Context, signer Signer, action, gtin, to string, serials []string) error {
	if isPrivate(s.latest(), gtin) {
		_, err := s.transferAs(ctx, signer, SupplyTransferRequest{Action: action, GTIN: gtin, Serials: serials, To: to})
		return err
	}
	cs, err := s.commitmentsFor(signer, gtin, serials, to)
	if err != nil {
		return err
	}
	if _, err = s.submit(ctx, signer, tx.TypeSupplyMove, &tx.SupplyMove{Action: action, GTIN: gtin, Units: cs.Units, To: to, KeyWrap: cs.wrap}); err != nil {
		return err
	}
	return s.journalAct(signer, supply.Event{Action: action, GTIN: gtin, Serials: serials, To: to})
}

type commitments struct {
	Units [][]byte
	wrap  []byte
}

func (s *Service) commitmentsFor(signer Signer, gtin string, serials []string, shareWith string) (commitments, error) {
	me, err := s.latest().Principal(signer.ID)
	if err != nil {
		return commitments{}, fmt.Errorf("signer %s: %w", signer.ID, err)
	}
	cs, wrap, err := s.SupplyCommitments(me, gtin, serials, shareWith)
	return commitments{Units: cs, wrap: wrap}, err
}

// SupplyRecall recalls lot of product gtin for reason.
func (s *Service) SupplyRecall(ctx context.Context, signer Signer, gtin, lot, reason string) error {
	if _, err := s.submit(ctx, signer, tx.TypeSupplyRecall, &tx.SupplyRecall{GTIN: gtin, Lot: lot, Reason: reason}); err != nil {
		return err
	}
	return s.journalAct(signer, supply.Event{Action: supply.ActRecall, GTIN: gtin, Lot: lot, Reason: reason})
}
