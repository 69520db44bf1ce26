package records

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Cases of private units through the node (ledger/supplytransfercase.go).
// The ledger knows a case by its commitment under the product key and its
// holder by a custody key, as it knows units. A pack takes the units'
// custody key (all units named are held by one key: those commissioned or
// received together) and hands them, in the case, to a fresh key of the
// organization, whose label the node notes for the serials; a ship seals,
// as for loose units, the case's SSCC and the serials in it to the
// receiver; the receiver's node finds the shipment by trial opening
// (incoming), receives the case with the claim key, and notes the next
// key for every serial in it; an unpack leaves the units with the case's
// key. The SSCC never reaches the ledger nor the node's files in plain:
// it is journaled sealed, as serials are.

// casePlan is the transfer of one case and what the node notes and
// journals with it.
type casePlan struct {
	key         ed25519.PrivateKey
	body        *tx.SupplyTransfer
	shipment    *supply.Shipment // a ship's, sealed once its statement is signed; a receive's, opened
	group       CosignGroup      // what a ship's statement signs
	note        *supply.CustodyNote
	noteSerials []string
	serials     []string // journaled
}

// supplyTransferCases carries out req, on cases (req.SSCCs), for caller's
// organization: one transfer per case, signed by the key holding it (or
// claiming its shipment), each planned before any is submitted.
func (s *Service) supplyTransferCases(ctx context.Context, v *ledger.View, caller *carechain.Principal, req SupplyTransferRequest, k []byte) (SupplyTransferResult, error) {
	var out SupplyTransferResult
	if req.Action != tx.MoveShip && req.Action != tx.MoveReceive && req.Action != tx.TransferPack && req.Action != tx.TransferUnpack {
		return out, carechain.E(carechain.KindInvalid, fmt.Errorf("a %s names units, not cases: unpack them first", req.Action))
	}
	if req.Action == tx.MoveShip && len(req.Sigs) == 0 { // the first round: a fresh nonce
		req.Nonce = make([]byte, claimNonceSize)
		rand.Read(req.Nonce)
	}
	plans := make([]casePlan, len(req.SSCCs))
	for i, sscc := range req.SSCCs {
		p, err := s.planCase(v, caller.Org, req, k, sscc)
		if err != nil && len(req.SSCCs) > 1 {
			return out, fmt.Errorf("case #%d: %w", i, err)
		} else if err != nil {
			return out, err
		}
		plans[i] = p
	}
	if req.Action == tx.MoveShip {
		if len(req.Sigs) == 0 {
			out.Nonce = req.Nonce
			for _, p := range plans {
				out.Cosign = append(out.Cosign, p.group)
			}
			return out, nil
		}
		if err := sealCaseShipments(v, caller, req, plans); err != nil {
			return out, err
		}
	}
	for i, p := range plans {
		if p.note != nil { // first: a journal write that fails after the commit loses no key
			if err := s.noteCustody(v, caller.Org, req.GTIN, p.noteSerials, *p.note); err != nil {
				return out, err
			}
		}
		res, err := s.submit(ctx, Signer{ID: supply.CustodySigner(p.key.Public().(ed25519.PublicKey)), Key: p.key}, tx.TypeSupplyTransfer, p.body)
		if err != nil {
			return out, fmt.Errorf("case %d of %d: %w", i+1, len(plans), err)
		}
		out.Heights = append(out.Heights, res.Height)
		e := supply.Event{Action: req.Action, GTIN: req.GTIN, Serials: p.serials, SSCCs: req.SSCCs[i : i+1], To: req.To, Org: caller.Org, Time: s.now().UTC()}
		if err := s.journalSupply(s.latest(), caller.Org, req.saleOf(e, p.shipment)); err != nil {
			return out, fmt.Errorf("committed at height %d, not journaled: %w", res.Height, err)
		}
	}
	return out, nil
}

// planCase plans req's transfer of the case with SSCC sscc.
func (s *Service) planCase(v *ledger.View, org string, req SupplyTransferRequest, k []byte, sscc string) (casePlan, error) {
	t := &tx.SupplyTransfer{Action: req.Action, GTIN: req.GTIN, Case: supply.CaseCommitment(k, req.GTIN, sscc)}
	kc, err := v.SupplyCase(req.GTIN, t.Case)
	if errors.Is(err, ledger.ErrNotFound) {
		kc = nil
	} else if err != nil {
		return casePlan{}, err
	}
	var p casePlan
	switch {
	case req.Action == tx.TransferPack:
		p, err = s.planPack(v, org, req, k, t, kc)
	case kc == nil:
		return p, carechain.E(carechain.KindInvalid, fmt.Errorf("no case of %s with this SSCC is packed", req.GTIN))
	case req.Action == tx.MoveReceive:
		p, err = s.planCaseReceive(v, org, k, t, kc)
	default:
		p, err = s.planCaseOut(v, org, req, k, t, kc, sscc)
	}
	if err != nil {
		return p, err
	}
	if err := t.Validate(); err != nil {
		return p, carechain.E(carechain.KindInvalid, err)
	}
	p.body = t
	return p, nil
}

// planPack plans the pack of req's serials, all held by one key of org,
// into case kc (nil: a new case, held by a fresh key).
func (s *Service) planPack(v *ledger.View, org string, req SupplyTransferRequest, k []byte, t *tx.SupplyTransfer, kc *supply.Case) (casePlan, error) {
	groups, err := s.custodyGroups(v, org, req, k)
	if err != nil {
		return casePlan{}, err
	}
	if len(groups) != 1 {
		return casePlan{}, carechain.E(carechain.KindInvalid, fmt.Errorf("the units named are held by %d custody keys: a case is packed with units commissioned or received together (pack one case for each)", len(groups)))
	}
	g := groups[0]
	t.Units = g.units
	label := ""
	if kc == nil {
		b := make([]byte, 16)
		rand.Read(b)
		label = "case/" + hex.EncodeToString(b)
		next, err := s.custodyKey(org, label, nil)
		if err != nil {
			return casePlan{}, err
		}
		t.Next = next.Public().(ed25519.PublicKey)
	} else {
		if !bytes.Equal(kc.Custody, g.key.Public().(ed25519.PublicKey)) {
			return casePlan{}, carechain.E(carechain.KindInvalid, errors.New("the case is held by another custody key than the units: pack them into a new case"))
		}
		if _, label, _, err = s.caseHolder(org, req.GTIN, k, kc); err != nil {
			return casePlan{}, err
		}
	}
	return casePlan{key: g.key, note: &supply.CustodyNote{Label: label}, noteSerials: g.serials, serials: g.serials}, nil
}

// planCaseReceive plans the receive of case kc, shipped to org: its claim
// key, from the shipment sealed to org, hands it to a fresh key of org.
func (s *Service) planCaseReceive(v *ledger.View, org string, k []byte, t *tx.SupplyTransfer, kc *supply.Case) (casePlan, error) {
	in, err := s.incoming(v, org, t.GTIN)
	if err != nil {
		return casePlan{}, err
	}
	sh, ok := in[hex.EncodeToString(kc.Claim)]
	if !ok || kc.Status != supply.StatusInTransit {
		return casePlan{}, fmt.Errorf("%w: no pending shipment of this case is sealed to %s", ErrNotHeld, org)
	}
	if len(sh.ClaimSeed) != ed25519.SeedSize {
		return casePlan{}, carechain.E(carechain.KindInvalid, errors.New("the shipment's claim key is malformed"))
	}
	claim := ed25519.NewKeyFromSeed(sh.ClaimSeed)
	if !bytes.Equal(claim.Public().(ed25519.PublicKey), kc.Claim) {
		return casePlan{}, carechain.E(carechain.KindInvalid, errors.New("the shipment's claim key is not the one the ledger names"))
	}
	if len(sh.Serials) != len(kc.Units) {
		return casePlan{}, carechain.E(carechain.KindInvalid, fmt.Errorf("the shipment names %d serials; the case holds %d units", len(sh.Serials), len(kc.Units)))
	}
	for i, sn := range sh.Serials {
		if !slices.ContainsFunc(kc.Units, func(u []byte) bool { return bytes.Equal(u, supply.Commitment(k, t.GTIN, sn)) }) {
			return casePlan{}, carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d of the shipment is not in the case", i))
		}
	}
	label := "receive/" + hex.EncodeToString(kc.Claim)
	next, err := s.custodyKey(org, label, nil)
	if err != nil {
		return casePlan{}, err
	}
	t.Next = next.Public().(ed25519.PublicKey)
	note := &supply.CustodyNote{Label: label, From: sh.From, ProductKey: bytes.Clone(k)}
	return casePlan{key: claim, note: note, noteSerials: sh.Serials, shipment: &sh}, nil
}

// planCaseOut plans the ship or the unpack of case kc, which a key of org
// holds.
func (s *Service) planCaseOut(v *ledger.View, org string, req SupplyTransferRequest, k []byte, t *tx.SupplyTransfer, kc *supply.Case, sscc string) (casePlan, error) {
	key, _, serials, err := s.caseHolder(org, req.GTIN, k, kc)
	if err != nil {
		return casePlan{}, err
	}
	if req.Action == tx.TransferUnpack {
		for _, sn := range req.Serials {
			t.Units = append(t.Units, supply.Commitment(k, req.GTIN, sn))
		}
		return casePlan{key: key, serials: req.Serials}, nil
	}
	if err := checkReceiver(v, org, req.To); err != nil {
		return casePlan{}, err
	}
	var lots []string
	for _, cm := range kc.Units {
		u, _, err := v.SupplyUnit(req.GTIN, cm)
		if err != nil {
			return casePlan{}, err
		}
		if !slices.Contains(lots, u.Lot) {
			lots = append(lots, u.Lot)
		}
	}
	if err := checkNonce(req.Nonce); err != nil {
		return casePlan{}, err
	}
	claim, err := s.custodyKey(org, claimLabel(req.Nonce, key, kc.Units), nil)
	if err != nil {
		return casePlan{}, err
	}
	t.Claim = claim.Public().(ed25519.PublicKey)
	sh := &supply.Shipment{From: org, To: req.To, GTIN: req.GTIN, Lots: lots, Serials: serials, SSCCs: []string{sscc}, ProductKey: k, ClaimSeed: claim.Seed(), Units: kc.Units,
		BizTransactions: req.BizTransactions, Price: req.Price}
	return casePlan{key: key, shipment: sh, group: CosignGroup{Units: kc.Units, Lots: lots, Claim: t.Claim}}, nil
}

// sealCaseShipments checks the caller's signed statement of each case's
// ship and seals it, with the shipment, into the ship's details.
func sealCaseShipments(v *ledger.View, caller *carechain.Principal, req SupplyTransferRequest, plans []casePlan) error {
	if len(req.Sigs) != len(plans) {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("%d signed statements for %d cases: ask for the groups again", len(req.Sigs), len(plans)))
	}
	for i, p := range plans {
		if !ed25519.Verify(caller.PublicKey, cosignDigest(v.ChainID(), caller, req, p.group), req.Sigs[i]) {
			return carechain.E(carechain.KindInvalid, fmt.Errorf("the statement of case #%d signed by %s does not verify: ask for the groups again", i, caller.ID))
		}
		p.shipment.Signer, p.shipment.Sig = caller.ID, req.Sigs[i]
		var err error
		if p.body.Details, err = sealShipment(v, *p.shipment, p.body.Claim); err != nil {
			return err
		}
	}
	return nil
}

// caseHolder finds, in org's custody notes (custodyIndex), the custody key
// holding case kc of gtin, the label it was derived for, and the serials
// of the units in the case (in the case's order).
func (s *Service) caseHolder(org, gtin string, k []byte, kc *supply.Case) (ed25519.PrivateKey, string, []string, error) {
	serials, labels, err := s.custody.caseUnits(s, org, gtin, k, kc.Units)
	if err != nil {
		return nil, "", nil, err
	}
	for i, sn := range serials {
		if sn == "" {
			return nil, "", nil, fmt.Errorf("%w: %s knows no serial of unit #%d in the case", ErrNotHeld, org, i)
		}
	}
	for _, label := range labels {
		if key, err := s.custodyKey(org, label, kc.Custody); err == nil {
			return key, label, serials, nil
		} else if !errors.Is(err, ErrNotHeld) {
			return nil, "", nil, err
		}
	}
	return nil, "", nil, fmt.Errorf("%w: no custody key of %s holds this case", ErrNotHeld, org)
}
