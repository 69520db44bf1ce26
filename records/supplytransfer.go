package records

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Transfers of private units through the node (supplycustody.go): the
// caller, supply staff of an organization whose keys this node holds,
// names serials; the node finds the custody key holding each (or, for a
// receive, the claim key of the shipment sealed to the organization),
// submits one supply.transfer per key, signed by it, and journals the
// event.

// SupplyTransferRequest is a transfer of units of a private product.
type SupplyTransferRequest struct {
	Action  string   `json:"action"` // ship, receive, dispense, decommission, flag, pack or unpack
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	// SSCCs name the case a pack or unpack is about, or the cases a ship
	// or receive moves instead of units (supplytransfercase.go).
	SSCCs    []string `json:"ssccs,omitempty"`
	To       string   `json:"to,omitempty"`     // ship: the receiving organization
	Reason   string   `json:"reason,omitempty"` // flag
	WholeLot bool     `json:"whole_lot,omitempty"`
	// BizTransactions and Price are a ship's sale (supplysale.go).
	BizTransactions []supply.BizTransaction `json:"biz_transactions,omitempty"`
	Price           *supply.Price           `json:"price,omitempty"`
	// Sigs are the caller's signatures of the groups of units the answer
	// to the same request without them named (SupplyTransferResult.Cosign),
	// one for each, of CosignDigest: a dispense's co-signatures, a ship's
	// signed statements (supply.ShipDigest).
	Sigs [][]byte `json:"sigs,omitempty"`
	// Nonce is a ship's nonce, from the answer that named the groups: the
	// node derives the claim keys from it again (never from the client).
	Nonce []byte `json:"nonce,omitempty"`
	// Shipment names, instead of serials or SSCCs, the whole pending
	// shipment a receive takes (PrivateShipment.Claim, from the stock): the
	// node reads its serials, or its cases, from the sealed details.
	Shipment string `json:"shipment,omitempty"`
}

// SupplyTransferResult answers a SupplyTransferRequest: the heights of the
// transfers committed, or, for a dispense or ship without signatures, the
// groups of units (one per transfer) the caller signs, and a ship's nonce.
type SupplyTransferResult struct {
	Heights []int64       `json:"heights,omitempty"`
	Cosign  []CosignGroup `json:"cosign,omitempty"`
	Nonce   []byte        `json:"nonce,omitempty"`
}

// CosignGroup is the units of one transfer the caller signs: their
// commitments and, for a ship, their lots and the claim key the receiver
// takes them with.
type CosignGroup struct {
	Units [][]byte `json:"units"`
	Lots  []string `json:"lots,omitempty"`
	Claim []byte   `json:"claim,omitempty"`
}

// CosignDigest is what signer, supply staff of org, signs for group g of
// req on chain chainID: supply.DispenseDigest for a dispense,
// supply.ShipDigest for a ship (from org to req.To).
func CosignDigest(chainID, signer, org string, req SupplyTransferRequest, g CosignGroup) []byte {
	if req.Action == tx.MoveShip {
		return supply.ShipDigest(chainID, req.GTIN, g.Claim, org, req.To, g.Lots, g.Units, signer)
	}
	return supply.DispenseDigest(chainID, req.GTIN, g.Units, signer)
}

// cosignDigest is CosignDigest for caller.
func cosignDigest(chainID string, caller *carechain.Principal, req SupplyTransferRequest, g CosignGroup) []byte {
	return CosignDigest(chainID, caller.ID, caller.Org, req, g)
}

// custodyGroup is the units of one transfer: those one key holds.
type custodyGroup struct {
	key     ed25519.PrivateKey
	serials []string
	units   [][]byte
	lots    []string
	claimed *supply.Shipment   // receive: the shipment the claim key takes
	claim   ed25519.PrivateKey // ship: the claim key the receiver takes the units with
}

// cosignGroup is what the caller signs for g.
func (g *custodyGroup) cosignGroup() CosignGroup {
	out := CosignGroup{Units: g.units}
	if g.claim != nil {
		out.Lots, out.Claim = g.lots, g.claim.Public().(ed25519.PublicKey)
	}
	return out
}

func (r *SupplyTransferRequest) check() error {
	if !slices.Contains([]string{tx.MoveShip, tx.MoveReceive, tx.MoveDispense, tx.MoveDecommission, tx.TransferFlag, tx.TransferPack, tx.TransferUnpack}, r.Action) {
		return fmt.Errorf("action %q: want ship, receive, dispense, decommission, flag, pack or unpack", r.Action)
	}
	if err := r.checkSale(); err != nil {
		return err
	}
	e := supply.Event{Action: r.Action, GTIN: r.GTIN, Serials: r.Serials, SSCCs: r.SSCCs, To: r.To, Reason: r.Reason,
		BizTransactions: r.BizTransactions, Price: r.Price}
	if err := e.Check(); err != nil {
		return err
	}
	if (r.Action == tx.MoveShip) != (r.To != "") {
		return errors.New("a ship, and only a ship, names its receiver")
	}
	return nil
}

// SupplyTransfer moves caller's organization's units of a private product.
func (s *Service) SupplyTransfer(ctx context.Context, caller *carechain.Principal, req SupplyTransferRequest) (SupplyTransferResult, error) {
	var out SupplyTransferResult
	v := s.latest()
	if err := s.namedShipment(v, caller, &req); err != nil {
		return out, err
	}
	if err := req.check(); err != nil {
		return out, carechain.E(carechain.KindInvalid, err)
	}
	if p, err := v.SupplyProduct(req.GTIN); err != nil || !p.Private {
		return out, carechain.E(carechain.KindInvalid, fmt.Errorf("product %s is not a registered private product", req.GTIN))
	}
	k, err := s.productKey(v, caller, req.GTIN)
	if err != nil {
		return out, err
	}
	defer clear(k)
	if len(req.SSCCs) > 0 {
		return s.supplyTransferCases(ctx, v, caller, req, k)
	}
	groups, err := s.custodyGroups(v, caller.Org, req, k)
	if err != nil {
		return out, err
	}

	if req.Action == tx.MoveDispense || req.Action == tx.MoveShip {
		if len(req.Sigs) == 0 {
			return s.cosignPlan(caller.Org, req, groups)
		}
		if err := s.claimKeys(caller.Org, req, groups); err != nil {
			return out, err
		}
		if err := checkCosigs(v.ChainID(), caller, req, groups); err != nil {
			return out, err
		}
	}
	for i, g := range groups {
		body, note, err := s.transferOf(v, caller, req, g, i, k)
		if err != nil {
			return out, err
		}
		if note != nil { // first: a journal write that fails after the commit loses no key
			if err := s.noteCustody(v, caller.Org, req.GTIN, g.serials, *note); err != nil {
				return out, err
			}
		}
		res, err := s.submit(ctx, Signer{ID: supply.CustodySigner(g.key.Public().(ed25519.PublicKey)), Key: g.key}, tx.TypeSupplyTransfer, body)
		if err != nil {
			return out, fmt.Errorf("transfer %d of %d: %w", i+1, len(groups), err)
		}
		out.Heights = append(out.Heights, res.Height)
		e := supply.Event{Action: req.Action, GTIN: req.GTIN, Serials: g.serials, To: req.To, Reason: req.Reason, WholeLot: req.WholeLot,
			Org: caller.Org, Time: s.now().UTC()}
		if err := s.journalSupply(s.latest(), caller.Org, req.saleOf(e, g.claimed)); err != nil {
			return out, fmt.Errorf("committed at height %d, not journaled: %w", res.Height, err)
		}
	}
	return out, nil
}

// checkCosigs checks a dispense's co-signatures (a ship's statements) against the caller's key,
// one for each group, before anything is submitted.
func checkCosigs(chainID string, caller *carechain.Principal, req SupplyTransferRequest, groups []custodyGroup) error {
	if len(req.Sigs) != len(groups) {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("%d co-signatures for %d groups of units: ask for the groups again", len(req.Sigs), len(groups)))
	}
	for i, g := range groups {
		if !ed25519.Verify(caller.PublicKey, cosignDigest(chainID, caller, req, g.cosignGroup()), req.Sigs[i]) {
			return carechain.E(carechain.KindInvalid, fmt.Errorf("co-signature #%d of %s does not verify: ask for the groups of units again", i, caller.ID))
		}
	}
	return nil
}

// transferOf is the transfer of group g (the i-th) and the note its
// journal entry carries.
func (s *Service) transferOf(v *ledger.View, caller *carechain.Principal, req SupplyTransferRequest, g custodyGroup, i int, k []byte) (*tx.SupplyTransfer, *supply.CustodyNote, error) {
	t := &tx.SupplyTransfer{Action: req.Action, GTIN: req.GTIN, Units: g.units}
	var note *supply.CustodyNote
	switch req.Action {
	case tx.MoveShip:
		claimPub := g.claim.Public().(ed25519.PublicKey)
		sh := supply.Shipment{From: caller.Org, To: req.To, GTIN: req.GTIN, Lots: g.lots, Serials: g.serials, ProductKey: k, ClaimSeed: g.claim.Seed(),
			Units: g.units, Signer: caller.ID, Sig: req.Sigs[i], BizTransactions: req.BizTransactions, Price: req.Price}
		var err error
		if t.Details, err = sealShipment(v, sh, claimPub); err != nil {
			return nil, nil, err
		}
		t.Claim = claimPub
	case tx.MoveReceive:
		label := "receive/" + hex.EncodeToString(g.key.Public().(ed25519.PublicKey))
		next, err := s.custodyKey(caller.Org, label, nil)
		if err != nil {
			return nil, nil, err
		}
		t.Next = next.Public().(ed25519.PublicKey)
		note = &supply.CustodyNote{Label: label, From: g.claimed.From, ProductKey: bytes.Clone(k)}
	case tx.MoveDispense:
		t.Dispenser, t.DispenserSig = caller.ID, req.Sigs[i]
	case tx.TransferFlag:
		t.Reason, t.WholeLot = req.Reason, req.WholeLot
	}
	if err := t.Validate(); err != nil {
		return nil, nil, carechain.E(carechain.KindInvalid, err)
	}
	return t, note, nil
}

// custodyGroups finds the key that may move each unit req names for org,
// and groups the units by key, in the order of the keys' public keys.
func (s *Service) custodyGroups(v *ledger.View, org string, req SupplyTransferRequest, k []byte) ([]custodyGroup, error) {
	if req.Action == tx.MoveShip {
		if err := checkReceiver(v, org, req.To); err != nil {
			return nil, err
		}
	}
	in := s.claimLookup(v, org, req.GTIN)
	byKey := map[string]*custodyGroup{}
	for i, sn := range req.Serials {
		c := supply.Commitment(k, req.GTIN, sn)
		u, _, err := v.SupplyUnit(req.GTIN, c)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d: no unit of %s with this serial was commissioned", i, req.GTIN))
		} else if err != nil {
			return nil, err
		}
		if u.Case != nil && (req.Action == tx.MoveShip || req.Action == tx.MoveDispense) {
			return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d: the unit is packed in a case; unpack it first", i))
		}
		labels, err := s.heldLabels(org, req.GTIN, k, c)
		if err != nil {
			return nil, err
		}
		key, claimed, err := s.keyFor(org, req.Action, u, labels, in)
		if err != nil {
			return nil, fmt.Errorf("serial #%d: %w", i, err)
		}
		id := hex.EncodeToString(key.Public().(ed25519.PublicKey))
		g, ok := byKey[id]
		if !ok {
			g = &custodyGroup{key: key, claimed: claimed}
			byKey[id] = g
		}
		g.serials, g.units = append(g.serials, sn), append(g.units, c)
		if !slices.Contains(g.lots, u.Lot) {
			g.lots = append(g.lots, u.Lot)
		}
	}
	ids := make([]string, 0, len(byKey))
	for id := range byKey {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]custodyGroup, len(ids))
	for i, id := range ids {
		out[i] = *byKey[id]
		if sh := out[i].claimed; req.Action == tx.MoveReceive && len(sh.Serials) != len(out[i].serials) {
			return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("a shipment from %s is received whole: %d of its %d units are named", sh.From, len(out[i].serials), len(sh.Serials)))
		}
	}
	return out, nil
}

// keyFor is the key that may take unit u through action for org: the claim
// key of a shipment sealed to org for a receive (and a flag of a unit
// shipped to it), else the one of org's custody keys of labels holding u.
func (s *Service) keyFor(org, action string, u *supply.Unit, labels []string, in func(claim []byte) (*claimed, error)) (ed25519.PrivateKey, *supply.Shipment, error) {
	if u.Status == supply.StatusInTransit && (action == tx.MoveReceive || action == tx.TransferFlag) {
		c, err := in(u.Claim)
		if err != nil {
			return nil, nil, err
		}
		if c != nil {
			return c.key, &c.sh, nil
		}
	}
	if action == tx.MoveReceive {
		return nil, nil, fmt.Errorf("%w: no pending shipment of this unit is sealed to %s", ErrNotHeld, org)
	}
	key, err := s.heldKey(org, labels, u)
	return key, nil, err
}

// checkReceiver checks that a ship goes to another supply-chain
// organization with an encryption key.
func checkReceiver(v *ledger.View, from, to string) error {
	o, err := v.Organization(to)
	if err != nil || to == from || !slices.Contains([]carechain.OrgType{carechain.OrgManufacturer, carechain.OrgWholesaler, carechain.OrgPharmacy, carechain.OrgHospital}, o.Type) {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("%q is not another manufacturer, wholesaler, pharmacy or hospital of the consortium", to))
	}
	return nil
}

// claimed is a pending shipment sealed to an organization and the claim
// key that takes it.
type claimed struct {
	sh  supply.Shipment
	key ed25519.PrivateKey
}

// claimLookup finds, for org, the pending shipment of gtin under a claim
// key and its claim key, each claim once however many units it holds
// (nil: none sealed to org).
func (s *Service) claimLookup(v *ledger.View, org, gtin string) func(claim []byte) (*claimed, error) {
	seen := map[string]*claimed{}
	return func(claim []byte) (*claimed, error) {
		id := string(claim)
		if c, ok := seen[id]; ok {
			return c, nil
		}
		sh, ok, err := s.incomingOf(v, org, gtin, claim)
		if err != nil || !ok {
			seen[id] = nil
			return nil, err
		}
		if len(sh.ClaimSeed) != ed25519.SeedSize {
			return nil, carechain.E(carechain.KindInvalid, errors.New("the shipment's claim key is malformed"))
		}
		key := ed25519.NewKeyFromSeed(sh.ClaimSeed)
		if !bytes.Equal(key.Public().(ed25519.PublicKey), claim) {
			return nil, carechain.E(carechain.KindInvalid, errors.New("the shipment's claim key is not the one the ledger names"))
		}
		c := &claimed{sh, key}
		seen[id] = c
		return c, nil
	}
}
