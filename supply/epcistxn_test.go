package supply

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func saleShip() Event {
	return Event{Action: ActShip, Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Org: "acme", GTIN: "00312345678906",
		Serials: []string{"SN1", "SN2"}, To: "dist",
		BizTransactions: []BizTransaction{{Type: "po", ID: "PO-123"}, {Type: "inv", ID: "urn:epcglobal:cbv:bt:0614141073467:9"}},
		Price:           &Price{Amount: "12.50", Currency: "EUR", Per: "unit"}}
}

// TestTransactionEventRoundTrip writes a ship carrying a sale as its
// shipping ObjectEvent and a TransactionEvent (ADD, the same EPCs, the
// bizTransactionList, carechain:price, the owning parties), and reads the
// document back into the one ship with its sale.
func TestTransactionEventRoundTrip(t *testing.T) {
	ship := saleShip()
	doc := NewEPCISDocument([]Event{ship}, ship.Time)
	if n := len(doc.EPCISBody.EventList); n != 2 {
		t.Fatalf("%d events, want the ObjectEvent and the TransactionEvent", n)
	}
	te := doc.EPCISBody.EventList[1]
	want := []BizTxElem{{Type: "po", BizTransaction: "urn:carechain:bt:PO-123"}, {Type: "inv", BizTransaction: "urn:epcglobal:cbv:bt:0614141073467:9"}}
	if te.Type != "TransactionEvent" || te.Action != "ADD" || te.BizStep != "shipping" || !reflect.DeepEqual(te.BizTransactionList, want) ||
		te.SourceList[0].Source != "urn:carechain:org:acme" || te.DestinationList[0].Destination != "urn:carechain:org:dist" ||
		!reflect.DeepEqual(te.EPCList, doc.EPCISBody.EventList[0].EPCList) || *te.Price != *ship.Price {
		t.Fatalf("%+v", te)
	}
	if doc.EPCISBody.EventList[0].BizTransactionList != nil {
		t.Fatal("the shipping ObjectEvent carries the business transactions too")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"carechain:price":{"carechain:amount":"12.50","carechain:currency":"EUR","carechain:per":"unit"}`) {
		t.Fatalf("no carechain:price in %s", b)
	}
	got, err := ParseEPCIS(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], ship) {
		t.Fatalf("read back %+v, want %+v", got, ship)
	}
	// A bizTransactionList on the shipping ObjectEvent itself is read too.
	own := ship.EPCIS()
	own.BizTransactionList, own.Price = doc.EPCISBody.EventList[1].BizTransactionList, ship.Price
	ob, _ := json.Marshal(own)
	if got, err := ParseEPCIS(epcisDoc(string(ob))); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], ship) {
		t.Fatalf("a shipping ObjectEvent with its bizTransactionList: %+v %v", got, err)
	}
	// The TransactionEvent may come first, in its own document order.
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	list := raw["epcisBody"].(map[string]any)["eventList"].([]any)
	list[0], list[1] = list[1], list[0]
	b2, _ := json.Marshal(raw)
	if got, err := ParseEPCIS(b2); err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].BizTransactions, ship.BizTransactions) {
		t.Fatalf("TransactionEvent first: %+v %v", got, err)
	}
}

// TestTransactionEventRefusals refuses an ownership transfer without a
// shipping of the same units to the same party, a DELETE, malformed
// business transactions and prices, naming the event.
func TestTransactionEventRefusals(t *testing.T) {
	ship := saleShip()
	obj, err := json.Marshal(ship.EPCIS())
	if err != nil {
		t.Fatal(err)
	}
	txn, err := json.Marshal(ship.transactionEvent())
	if err != nil {
		t.Fatal(err)
	}
	okTxn := string(txn)
	for _, tc := range []struct {
		name   string
		events []string
		index  int
		want   string
	}{
		{"alone", []string{okTxn}, 0, "an ownership transfer without shipping is not supported: ship the units"},
		{"other units", []string{string(obj), strings.Replace(okTxn, "/21/SN2", "/21/SN3", 1)}, 1, "without shipping is not supported"},
		{"another party", []string{string(obj), strings.Replace(okTxn, "org:dist", "org:other", 1)}, 1, "without shipping is not supported"},
		{"a DELETE", []string{string(obj), strings.Replace(okTxn, `"ADD"`, `"DELETE"`, 1)}, 1, "a TransactionEvent DELETE is not supported"},
		{"an OBSERVE", []string{string(obj), strings.Replace(okTxn, `"ADD"`, `"OBSERVE"`, 1)}, 1, "a TransactionEvent OBSERVE is not supported"},
		{"an unknown type", []string{string(obj), strings.Replace(okTxn, `"type":"po"`, `"type":"quote"`, 1)}, 1, `business transaction type "quote"`},
		{"a bad currency", []string{string(obj), strings.Replace(okTxn, `"EUR"`, `"euro"`, 1)}, 1, "ISO 4217"},
		{"a negative amount", []string{string(obj), strings.Replace(okTxn, `"12.50"`, `"-1"`, 1)}, 1, "a decimal of at least 0"},
		{"too many decimals", []string{string(obj), strings.Replace(okTxn, `"12.50"`, `"1.23456"`, 1)}, 1, "4 after"},
	} {
		_, err := ParseEPCIS(epcisDoc(tc.events...))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Index != tc.index || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want event #%d refused with %q", tc.name, err, tc.index, tc.want)
		}
	}
	e := Event{Action: ActDispense, GTIN: "00312345678906", Serials: []string{"SN1"}, BizTransactions: ship.BizTransactions}
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "only a ship") {
		t.Errorf("a dispense with a sale: %v", err)
	}
	e = Event{Action: ActShip, GTIN: "00312345678906", Serials: []string{"SN1"}, To: "dist", BizTransactions: make([]BizTransaction, MaxBizTransactions+1)}
	for i := range e.BizTransactions {
		e.BizTransactions[i] = BizTransaction{Type: "po", ID: "PO-1"}
	}
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "at most 10 an event") {
		t.Errorf("11 business transactions: %v", err)
	}
	e = Event{Action: ActShip, GTIN: "00312345678906", Serials: []string{"SN1"}, To: "dist", Price: ship.Price}
	if err := e.Check(); err == nil || !strings.Contains(err.Error(), "comes with the sale's business transactions") {
		t.Errorf("a price alone: %v", err)
	}
}

// TestParseBizTransactionAndPrice reads TYPE:ID and checks amounts.
func TestParseBizTransactionAndPrice(t *testing.T) {
	if bt, err := ParseBizTransaction("po:PO-123"); err != nil || bt != (BizTransaction{Type: "po", ID: "PO-123"}) {
		t.Errorf("po:PO-123: %+v %v", bt, err)
	}
	for _, s := range []string{"PO-123", "po:", "po:a b", "xx:1"} {
		if _, err := ParseBizTransaction(s); err == nil {
			t.Errorf("%q read", s)
		}
	}
	for amount, ok := range map[string]bool{"0": true, "12.50": true, "0.0001": true, "1.": false, ".5": false, "1e3": false, "-1": false, "1,5": false} {
		if _, err := NewPrice(amount, "EUR", true); (err == nil) != ok {
			t.Errorf("amount %q: %v, want ok=%v", amount, err, ok)
		}
	}
	for _, cur := range []string{"eur", "EU", "EURO", "E1R"} {
		if _, err := NewPrice("1", cur, false); err == nil {
			t.Errorf("currency %q read", cur)
		}
	}
}
