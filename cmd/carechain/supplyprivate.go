package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Private custody from the CLI (supply/custody.go): the commands keep
// their flags and, when the product is private, take this path by
// themselves. The manufacturer's staff still sign a commissioning here,
// to a custody key their node derives; every later move is signed by the
// organization's node with its custody keys (POST /v1/supply/transfers),
// and a dispense is co-signed here by the pharmacist, a ship signed here
// by the shipper (its statement, supply.ShipDigest).

// privateProduct reports whether gtin is a registered private product (an
// unregistered one is not: the ordinary path says why it fails).
func privateProduct(ctx context.Context, cl *nodeapi.Client, gtin string) bool {
	p, err := cl.SupplyProduct(ctx, gtin)
	return err == nil && p.Private
}

// submitPrivate carries out e, on units of a private product, for the
// signer's organization; cl is signed as the signer, with key.
func (c *cli) submitPrivate(ctx context.Context, s *signerFlags, cl *nodeapi.Client, key ed25519.PrivateKey, e supply.Event) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if e.Action == supply.ActCommission {
		return c.commissionPrivate(ctx, s, cl, e)
	}
	req := records.SupplyTransferRequest{Action: e.Action, GTIN: e.GTIN, Serials: e.Serials, SSCCs: e.SSCCs, To: e.To, Reason: e.Reason, WholeLot: e.WholeLot,
		BizTransactions: e.BizTransactions, Price: e.Price}
	if e.Action == supply.ActDispense || e.Action == supply.ActShip {
		sigs, nonce, err := cosignTransfer(ctx, cl, key, s.as, req)
		if err != nil {
			return err
		}
		req.Sigs, req.Nonce = sigs, nonce
	}
	res, err := cl.SupplyTransfer(ctx, req)
	if err != nil {
		return fmt.Errorf("%s: %w", e.Action, err)
	}
	fmt.Fprintf(c.err, "private custody: %d transfer(s) committed, at height %v\n", len(res.Heights), res.Heights)
	return nil
}

// cosignTransfer asks the node how the units of a dispense or ship are
// grouped (one transfer per custody key), checks each group names only the
// serials asked for, and signs each as signer: a dispense's co-signature,
// a ship's statement (records.CosignDigest), which names the claim key the
// node derived from the nonce it returns.
func cosignTransfer(ctx context.Context, cl *nodeapi.Client, key ed25519.PrivateKey, signer string, req records.SupplyTransferRequest) ([][]byte, []byte, error) {
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, nil, err
	}
	var mine *nodeapi.CommitmentsResponse
	if len(req.Serials) > 0 {
		if mine, err = cl.SupplyCommitments(ctx, nodeapi.CommitmentsRequest{GTIN: req.GTIN, Serials: req.Serials}); err != nil {
			return nil, nil, fmt.Errorf("commitments of the serials: %w", err)
		}
	}
	plan, err := cl.SupplyTransfer(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", req.Action, err)
	}
	want := len(req.Serials)
	if len(req.SSCCs) > 0 { // a ship of cases: one statement a case, naming the units the ledger has in it
		if len(plan.Cosign) != len(req.SSCCs) {
			return nil, nil, fmt.Errorf("the node grouped %d cases of the %d named: not signed", len(plan.Cosign), len(req.SSCCs))
		}
		mine = &nodeapi.CommitmentsResponse{}
		for _, g := range plan.Cosign {
			mine.Commitments = append(mine.Commitments, g.Units...)
		}
		want = len(mine.Commitments)
	}
	var sigs [][]byte
	named := 0
	for _, g := range plan.Cosign {
		for _, u := range g.Units {
			if !containsBytes(mine.Commitments, u) {
				return nil, nil, errors.New("the node asked to sign for a unit not named here: not signed")
			}
		}
		if req.Action == tx.MoveShip && len(g.Claim) != ed25519.PublicKeySize {
			return nil, nil, errors.New("the node named no claim key for a group of the ship: not signed")
		}
		named += len(g.Units)
		sigs = append(sigs, ed25519.Sign(key, records.CosignDigest(st.ChainID, signer, carechain.OrgOf(signer), req, g)))
	}
	if named != want {
		return nil, nil, fmt.Errorf("the node grouped %d of the %d units named: not signed", named, want)
	}
	return sigs, plan.Nonce, nil
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, b) {
			return true
		}
	}
	return false
}

// commissionPrivate commissions e's units to a custody key the signer's
// node derives (and notes for them), signed here, then journals e.
func (c *cli) commissionPrivate(ctx context.Context, s *signerFlags, cl *nodeapi.Client, e supply.Event) error {
	ck, err := cl.SupplyCustodyKey(ctx, e.GTIN, e.Serials)
	if err != nil {
		return fmt.Errorf("a custody key from your node: %w", err)
	}
	cs, err := cl.SupplyCommitments(ctx, nodeapi.CommitmentsRequest{GTIN: e.GTIN, Serials: e.Serials})
	if err != nil {
		return fmt.Errorf("commitments of the serials: %w", err)
	}
	_, body, err := tx.SupplyEventBody(e, supply.Named(e.Serials, cs.Commitments), nil)
	if err != nil {
		return err
	}
	cm, ok := body.(*tx.SupplyCommission)
	if !ok {
		return fmt.Errorf("a commissioning makes a %T", body)
	}
	cm.Custody = ck.PublicKey
	if err := c.submit(ctx, s, tx.TypeSupplyCommission, func(string, uint64) (any, error) { return cm, nil }); err != nil {
		return err
	}
	if err := cl.SupplyJournal(ctx, e); err != nil {
		fmt.Fprintf(c.err, "warning: committed, but not recorded in the supply journal (it is missing from EPCIS exports): %v\n", err)
	}
	return nil
}
