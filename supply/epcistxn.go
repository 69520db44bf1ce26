package supply

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Business transactions and prices. A ship may carry the sale it belongs
// to: its business transactions (a purchase order, an invoice, a despatch
// advice …, CBV 2.0 business transaction types) and a price. EPCIS has
// no price field, so it travels as the extension carechain:price. In an
// export, a ship or receive that carries them is followed by a
// TransactionEvent (ADD, the same EPCs, the business transactions, the
// price, the owning parties as source and destination): EPCIS 2.0 keeps
// the association of objects with a business transaction in a
// TransactionEvent, and CBV 2.0 reads a change of owning_party between
// source and destination as a transfer of ownership — a sale, which the
// shipping ObjectEvent (the physical move) does not say alone. A
// document read back must pair each TransactionEvent with a shipping (or
// receiving) ObjectEvent of the same EPCs and owning party: an ownership
// transfer without shipping, or a DELETE, is refused.

// BizTxTypes are the CBV 2.0 business transaction types carechain reads.
var BizTxTypes = []string{"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma", "testprd", "testres", "upevt"}

// MaxBizTransactions bounds the business transactions of one event.
const MaxBizTransactions = 10

// maxBizTxID bounds a business transaction's identifier.
const maxBizTxID = 128

// BizTxURNPrefix starts the URI of a business transaction identifier that
// is not a URI itself (EPCIS wants one).
const BizTxURNPrefix = "urn:carechain:bt:"

// BizTransaction is a business transaction an event is part of: its CBV
// type and its identifier (PO-123, or a URI).
type BizTransaction struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Price is what the units of a sale cost: a decimal amount (at most 4
// digits after the point) in an ISO 4217 currency, for each unit or for
// them all.
type Price struct {
	Amount   string `json:"carechain:amount"`
	Currency string `json:"carechain:currency"`
	Per      string `json:"carechain:per"` // unit or total
}

// ParseBizTransaction reads TYPE:ID (po:PO-123).
func ParseBizTransaction(s string) (BizTransaction, error) {
	typ, id, ok := strings.Cut(s, ":")
	bt := BizTransaction{Type: typ, ID: id}
	if !ok {
		return bt, fmt.Errorf("%w: business transaction %q: want TYPE:ID, e.g. po:PO-123", ErrInvalid, s)
	}
	return bt, bt.Check()
}

// Check returns an error if bt is not a business transaction carechain carries.
func (bt BizTransaction) Check() error {
	if !slices.Contains(BizTxTypes, bt.Type) {
		return fmt.Errorf("%w: business transaction type %q: want one of %s", ErrInvalid, bt.Type, strings.Join(BizTxTypes, ", "))
	}
	if bt.ID == "" || len(bt.ID) > maxBizTxID {
		return fmt.Errorf("%w: a business transaction's identifier has 1 to %d characters", ErrInvalid, maxBizTxID)
	}
	for _, r := range bt.ID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~:/", r)) {
			return fmt.Errorf("%w: business transaction identifier %q: letters, digits and - . _ ~ : / only", ErrInvalid, bt.ID)
		}
	}
	return nil
}

// URI is bt's identifier as EPCIS writes it: itself if it is a URN or a
// web URI, else under BizTxURNPrefix.
func (bt BizTransaction) URI() string {
	if strings.HasPrefix(bt.ID, "urn:") || strings.HasPrefix(bt.ID, "https://") || strings.HasPrefix(bt.ID, "http://") {
		return bt.ID
	}
	return BizTxURNPrefix + bt.ID
}

// NewPrice is the price amount in currency, per unit (else in total),
// checked.
func NewPrice(amount, currency string, perUnit bool) (*Price, error) {
	p := &Price{Amount: amount, Currency: currency, Per: "total"}
	if perUnit {
		p.Per = "unit"
	}
	return p, p.Check()
}

// Check returns an error if p is not a price carechain carries.
func (p *Price) Check() error {
	if len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency || strings.Trim(p.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return fmt.Errorf("%w: currency %q: want an ISO 4217 code, 3 capital letters (EUR)", ErrInvalid, p.Currency)
	}
	whole, frac, _ := strings.Cut(p.Amount, ".")
	digits := func(s string) bool { return strings.Trim(s, "0123456789") == "" }
	if whole == "" || len(whole) > 12 || !digits(whole) || len(frac) > 4 || !digits(frac) || strings.HasSuffix(p.Amount, ".") {
		return fmt.Errorf("%w: amount %q: want a decimal of at least 0, with at most 12 digits before the point and 4 after (12.50)", ErrInvalid, p.Amount)
	}
	if _, err := strconv.ParseFloat(p.Amount, 64); err != nil {
		return fmt.Errorf("%w: amount %q: %v", ErrInvalid, p.Amount, err)
	}
	if p.Per != "unit" && p.Per != "total" {
		return fmt.Errorf("%w: a price is per unit or total, not %q", ErrInvalid, p.Per)
	}
	return nil
}

// checkSale checks the business transactions and price of e: only a ship
// or receive carries them.
func (e Event) checkSale() error {
	if len(e.BizTransactions) == 0 && e.Price == nil {
		return nil
	}
	if e.Action != ActShip && e.Action != ActReceive {
		return fmt.Errorf("%w: only a ship (or its receive) carries business transactions or a price, not a %s", ErrInvalid, e.Action)
	}
	if len(e.BizTransactions) == 0 {
		return fmt.Errorf("%w: a price comes with the sale's business transactions (po, inv …)", ErrInvalid)
	}
	if len(e.BizTransactions) > MaxBizTransactions {
		return fmt.Errorf("%w: %d business transactions: at most %d an event", ErrInvalid, len(e.BizTransactions), MaxBizTransactions)
	}
	for i, bt := range e.BizTransactions {
		if err := bt.Check(); err != nil {
			return fmt.Errorf("business transaction #%d: %w", i, err)
		}
	}
	if e.Price != nil {
		return e.Price.Check()
	}
	return nil
}
