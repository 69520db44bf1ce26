package records

import (
	"errors"

	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// A ship's sale (supply/epcistxn.go): the business transactions and price
// a ship of private units carries travel sealed in its Shipment, so only
// the shipper and the receiver learn them; the shipper's node journals
// them with the ship, the receiver's with the receive, from the shipment
// it opened. A ship of an open product journals them at the shipper's
// only (RecordSupplyEvent, SupplyCapture): they are never on the ledger.

// checkSale refuses a sale on a request other than a ship: a receive
// takes its sale from the shipment.
func (r *SupplyTransferRequest) checkSale() error {
	if r.Action != tx.MoveShip && (len(r.BizTransactions) > 0 || r.Price != nil) {
		return errors.New("only a ship carries business transactions or a price: a receive takes them from the shipment")
	}
	return nil
}

// saleOf gives e, the journal entry of req's transfer, its sale: a ship's
// from req, a receive's (and its seller) from claimed, the shipment it
// takes.
func (r *SupplyTransferRequest) saleOf(e supply.Event, claimed *supply.Shipment) supply.Event {
	switch {
	case r.Action == tx.MoveShip:
		e.BizTransactions, e.Price = r.BizTransactions, r.Price
	case r.Action == tx.MoveReceive && claimed != nil && len(claimed.BizTransactions) > 0:
		e.BizTransactions, e.Price, e.From = claimed.BizTransactions, claimed.Price, claimed.From
	}
	return e
}
