package supply

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// transactionEvent is the TransactionEvent of a ship or receive carrying
// business transactions: the same EPCs, ADD, the bizStep of the move, and
// the owning parties — the shipper as source (for a receive, its From),
// the receiver as destination.
func (e Event) transactionEvent() EPCISEvent {
	obj := e.EPCIS()
	ev := EPCISEvent{Type: "TransactionEvent", EventTime: obj.EventTime, EventTimeZoneOffset: obj.EventTimeZoneOffset,
		EPCList: obj.EPCList, GTIN: obj.GTIN, Action: "ADD", BizStep: obj.BizStep, Price: e.Price}
	for _, bt := range e.BizTransactions {
		ev.BizTransactionList = append(ev.BizTransactionList, BizTxElem{Type: bt.Type, BizTransaction: bt.URI()})
	}
	from, to := e.Org, e.To
	if e.Action == ActReceive {
		from, to = e.From, e.Org
	}
	if from != "" {
		ev.SourceList = []SourceDestElem{{Type: "owning_party", Source: OrgURN(from)}}
	}
	if to != "" {
		ev.DestinationList = []SourceDestElem{{Type: "owning_party", Destination: OrgURN(to)}}
	}
	return ev
}

// readBizTxList reads a bizTransactionList.
func readBizTxList(list []BizTxElem) ([]BizTransaction, error) {
	var out []BizTransaction
	for i, el := range list {
		bt := BizTransaction{Type: cbvTerm(strings.TrimPrefix(el.Type, "https://ref.gs1.org/cbv/BTT-")), ID: el.BizTransaction}
		bt.Type = strings.TrimPrefix(bt.Type, "urn:epcglobal:cbv:btt:")
		if id, ok := strings.CutPrefix(el.BizTransaction, BizTxURNPrefix); ok {
			bt.ID = id
		}
		if err := bt.Check(); err != nil {
			return nil, fmt.Errorf("bizTransactionList #%d: %w", i, err)
		}
		out = append(out, bt)
	}
	return out, nil
}

// sale is a TransactionEvent read: the business transactions and price
// of the units it names, sold to the destination's owning party.
type sale struct {
	index int
	units Event // the GTIN, serials and SSCCs named, and To
	biz   []BizTransaction
	price *Price
}

// errTransferWithoutShipping refuses a TransactionEvent no shipping event
// of the document matches.
const errTransferWithoutShipping = "an ownership transfer without shipping is not supported: ship the units"

// sale reads a TransactionEvent: ADD only, with business transactions.
func (ev EPCISEvent) sale() (sale, error) {
	var s sale
	if ev.Action != "ADD" {
		return s, fmt.Errorf("%w: a TransactionEvent %s is not supported: carechain reads an ADD beside the shipping of its units (%s)", ErrInvalid, ev.Action, errTransferWithoutShipping)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev.EventTime); err != nil {
		return s, fmt.Errorf("%w: eventTime %q: want an RFC 3339 time", ErrInvalid, ev.EventTime)
	}
	s.units.Action = ActShip
	if err := s.units.readObjects(ev); err != nil {
		return s, err
	}
	if err := s.units.readParties(ev); err != nil {
		return s, fmt.Errorf("%w: %s, to the destination's owning party", err, errTransferWithoutShipping)
	}
	var err error
	if s.biz, err = readBizTxList(ev.BizTransactionList); err != nil {
		return s, err
	}
	s.price = ev.Price
	check := Event{Action: ActShip, BizTransactions: s.biz, Price: s.price}
	return s, check.checkSale()
}

// attachSales gives each sale's business transactions and price to the
// ship (or receive) of events naming the same units, to the same owning
// party; a sale no such event matches is refused.
func attachSales(events []Event, sales []sale) error {
	taken := map[int]bool{}
	for _, s := range sales {
		i := -1
		for j := range events {
			if !taken[j] && s.matches(events[j]) {
				i = j
				break
			}
		}
		if i < 0 {
			return &EventError{Index: s.index, Err: fmt.Errorf("%w: %s (no shipping ObjectEvent of the same EPCs to %s in this document)", ErrInvalid, errTransferWithoutShipping, s.units.To)}
		}
		taken[i] = true
		events[i].BizTransactions = append(events[i].BizTransactions, s.biz...)
		if events[i].Action == ActReceive {
			events[i].From = s.units.Org
		}
		if s.price != nil {
			events[i].Price = s.price
		}
		if err := events[i].Check(); err != nil {
			return &EventError{Index: s.index, Err: err}
		}
	}
	return nil
}

// matches reports whether e moves the units of s to its owning party.
func (s sale) matches(e Event) bool {
	to := e.To
	if e.Action == ActReceive {
		to = e.Org
	} else if e.Action != ActShip {
		return false
	}
	same := func(a, b []string) bool {
		a, b = slices.Clone(a), slices.Clone(b)
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	return e.GTIN == s.units.GTIN && (to == s.units.To || to == "") && same(e.Serials, s.units.Serials) && same(e.SSCCs, s.units.SSCCs)
}
