package supply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GS1 EPCIS 2.0 JSON(-LD). An organization's custody events are written as
// EPCIS ObjectEvents, with the Core Business Vocabulary (CBV 2.0) bizSteps
// and dispositions:
//
//	commission    ADD      commissioning    active        ilmd: cbvmda:lotNumber, cbvmda:itemExpirationDate
//	ship          OBSERVE  shipping         in_transit    sourceList/destinationList: owning_party
//	receive       OBSERVE  receiving        in_progress   destinationList: owning_party (the receiver)
//	dispense      OBSERVE  dispensing       dispensed
//	decommission  DELETE   decommissioning  inactive
//	flag          OBSERVE  inspecting       non_sellable_other   carechain:reason (carechain:wholeLot)
//	recall        OBSERVE  holding          recalled      quantityList: the lot's LGTIN class; carechain:reason
//
// A suspect unit has no CBV disposition of its own: non_sellable_other
// says it must not be sold. Parties are urn:carechain:org:{id}; the
// carechain: extension fields are declared in the document's @context.
// ParseEPCIS reads such a document back into Events, refusing event types,
// bizSteps and EPCs it cannot map, naming the event's index.

// EPCISContext is the GS1 JSON-LD context of EPCIS 2.0 documents.
const EPCISContext = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"

// ExtensionNamespace is the namespace of the carechain: extension fields.
const ExtensionNamespace = "urn:carechain:epcis:"

// MaxEPCISEvents bounds the events of one document read.
const MaxEPCISEvents = 1000

// Actions of an Event: the custody actions of tx.SupplyMove, and the
// commissioning, flag and recall transactions.
const (
	ActCommission   = "commission"
	ActShip         = "ship"
	ActReceive      = "receive"
	ActDispense     = "dispense"
	ActDecommission = "decommission"
	ActFlag         = "flag"
	ActRecall       = "recall"
)

// Event is one supply event of an organization, in plain: the serials are
// known only to the organizations holding the product's key.
type Event struct {
	Action  string    `json:"action"`
	Time    time.Time `json:"time"`
	Org     string    `json:"org,omitempty"` // the organization that recorded it (source of a ship, receiver of a receive)
	GTIN    string    `json:"gtin"`
	Serials []string  `json:"serials,omitempty"` // none for a recall, nor for a case's ship or receive
	// SSCCs name cases or pallets (supply/case.go): the one a pack or an
	// unpack is about, or those a ship or receive moves instead of units.
	SSCCs  []string `json:"ssccs,omitempty"`
	Lot    string   `json:"lot,omitempty"`    // commission, recall
	Expiry string   `json:"expiry,omitempty"` // commission: YYYY-MM-DD
	To     string   `json:"to,omitempty"`     // ship: the receiver
	Reason string   `json:"reason,omitempty"` // flag, recall
	// WholeLot: a flag on the whole lot of its unit.
	WholeLot bool `json:"whole_lot,omitempty"`
	// BizTransactions and Price are the sale a ship (and its receive)
	// belongs to (epcistxn.go).
	BizTransactions []BizTransaction `json:"biz_transactions,omitempty"`
	Price           *Price           `json:"price,omitempty"`
	// From is, on a receive carrying a sale, the organization that sold
	// and shipped the units (the TransactionEvent's source).
	From string `json:"from,omitempty"`
	// Custody is the node's note on an event of a private product
	// (custody.go): journaled, never exported.
	Custody *CustodyNote `json:"custody,omitempty"`
}

// Check returns an error if e is not an event a transaction can carry.
func (e Event) Check() error {
	if err := CheckGTIN(e.GTIN); err != nil {
		return err
	}
	if e.Action == ActRecall {
		if len(e.Serials) != 0 {
			return fmt.Errorf("%w: a recall names a lot, not serials", ErrInvalid)
		}
		return CheckLot(e.Lot)
	}
	if err := e.checkCases(); err != nil {
		return err
	}
	if err := e.checkSale(); err != nil {
		return err
	}
	wholeCases := len(e.SSCCs) > 0 && len(e.Serials) == 0 && (e.Action == ActShip || e.Action == ActReceive || e.Action == ActUnpack)
	if !wholeCases && (len(e.Serials) == 0 || len(e.Serials) > MaxUnits || e.Action == ActFlag && len(e.Serials) != 1) {
		return fmt.Errorf("%w: a %s names 1 to %d serials (a flag one)", ErrInvalid, e.Action, MaxUnits)
	}
	for i, sn := range e.Serials {
		if err := CheckSerial(sn); err != nil {
			return fmt.Errorf("serial #%d: %w", i, err)
		}
	}
	switch e.Action {
	case ActCommission:
		if err := CheckLot(e.Lot); err != nil {
			return err
		}
		if x, err := ParseExpiry(e.Expiry); err != nil || x != e.Expiry {
			return fmt.Errorf("%w: expiry %q: want YYYY-MM-DD", ErrInvalid, e.Expiry)
		}
	case ActShip:
		if e.To == "" {
			return fmt.Errorf("%w: a ship names its receiver", ErrInvalid)
		}
	case ActFlag:
		if e.Reason == "" {
			return fmt.Errorf("%w: a flag gives its reason", ErrInvalid)
		}
	case ActReceive, ActDispense, ActDecommission, ActPack, ActUnpack:
	default:
		return fmt.Errorf("%w: action %q", ErrInvalid, e.Action)
	}
	return nil
}

// vocabulary maps an action to its EPCIS action, CBV bizStep and disposition.
var vocabulary = map[string][3]string{
	ActCommission:   {"ADD", "commissioning", "active"},
	ActShip:         {"OBSERVE", "shipping", "in_transit"},
	ActReceive:      {"OBSERVE", "receiving", "in_progress"},
	ActDispense:     {"OBSERVE", "dispensing", "dispensed"},
	ActDecommission: {"DELETE", "decommissioning", "inactive"},
	ActFlag:         {"OBSERVE", "inspecting", "non_sellable_other"},
	ActRecall:       {"OBSERVE", "holding", "recalled"},
}

// EPCISDocument is an EPCIS 2.0 document (capture) or, with QueryResults,
// an EPCIS query document.
type EPCISDocument struct {
	Context       []any     `json:"@context"`
	Type          string    `json:"type"`
	SchemaVersion string    `json:"schemaVersion"`
	CreationDate  string    `json:"creationDate"`
	EPCISBody     EPCISBody `json:"epcisBody"`
}

// EPCISBody holds the events of a document, or a query's results.
type EPCISBody struct {
	EventList    []EPCISEvent  `json:"eventList,omitempty"`
	QueryResults *QueryResults `json:"queryResults,omitempty"`
}

// QueryResults are the results of a named query.
type QueryResults struct {
	QueryName   string `json:"queryName"`
	ResultsBody struct {
		EventList []EPCISEvent `json:"eventList"`
	} `json:"resultsBody"`
}

// EPCISEvent is the subset of an EPCIS 2.0 ObjectEvent carechain writes
// and reads.
type EPCISEvent struct {
	Type                string           `json:"type"`
	EventTime           string           `json:"eventTime"`
	EventTimeZoneOffset string           `json:"eventTimeZoneOffset"`
	EPCList             []string         `json:"epcList,omitzero"` // [] in an ObjectEvent, absent in an AggregationEvent
	ParentID            string           `json:"parentID,omitempty"`
	ChildEPCs           []string         `json:"childEPCs,omitempty"`
	QuantityList        []QuantityElem   `json:"quantityList,omitempty"`
	Action              string           `json:"action"`
	BizStep             string           `json:"bizStep,omitempty"`
	Disposition         string           `json:"disposition,omitempty"`
	SourceList          []SourceDestElem `json:"sourceList,omitempty"`
	DestinationList     []SourceDestElem `json:"destinationList,omitempty"`
	ILMD                *ILMD            `json:"ilmd,omitempty"`
	Reason              string           `json:"carechain:reason,omitempty"`
	WholeLot            bool             `json:"carechain:wholeLot,omitempty"`
	// GTIN is the product of the units in the cases an event names: an
	// SSCC does not say it, and a case's commitment is under its key.
	GTIN string `json:"carechain:gtin,omitempty"`
	// BizTransactionList and Price: a TransactionEvent's (epcistxn.go).
	BizTransactionList []BizTxElem `json:"bizTransactionList,omitempty"`
	Price              *Price      `json:"carechain:price,omitempty"`
}

// BizTxElem is an element of a bizTransactionList.
type BizTxElem struct {
	Type           string `json:"type,omitempty"`
	BizTransaction string `json:"bizTransaction"`
}

// QuantityElem is an element of a quantityList: a class of objects.
type QuantityElem struct {
	EPCClass string `json:"epcClass"`
}

// SourceDestElem is an element of a sourceList or destinationList.
type SourceDestElem struct {
	Type        string `json:"type"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
}

// ILMD is the instance/lot master data of a commissioning event.
type ILMD struct {
	LotNumber          string `json:"cbvmda:lotNumber,omitempty"`
	ItemExpirationDate string `json:"cbvmda:itemExpirationDate,omitempty"`
}

const epcisTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func epcisContext() []any {
	return []any{EPCISContext, map[string]string{"carechain": ExtensionNamespace}}
}

// NewEPCISDocument writes events as an EPCIS 2.0 document created at now.
func NewEPCISDocument(events []Event, now time.Time) EPCISDocument {
	return EPCISDocument{Context: epcisContext(), Type: "EPCISDocument", SchemaVersion: "2.0",
		CreationDate: now.UTC().Format(epcisTimeLayout), EPCISBody: EPCISBody{EventList: toEPCIS(events)}}
}

// NewEPCISQueryDocument writes events as the results of an EPCIS
// SimpleEventQuery.
func NewEPCISQueryDocument(events []Event, now time.Time) EPCISDocument {
	qr := &QueryResults{QueryName: "SimpleEventQuery"}
	qr.ResultsBody.EventList = toEPCIS(events)
	return EPCISDocument{Context: epcisContext(), Type: "EPCISQueryDocument", SchemaVersion: "2.0",
		CreationDate: now.UTC().Format(epcisTimeLayout), EPCISBody: EPCISBody{QueryResults: qr}}
}

func toEPCIS(events []Event) []EPCISEvent {
	out := make([]EPCISEvent, 0, len(events))
	for _, e := range events {
		out = append(out, e.EPCIS())
		if len(e.BizTransactions) > 0 {
			out = append(out, e.transactionEvent())
		}
	}
	return out
}

// EPCIS writes e as an EPCIS ObjectEvent, or a pack or unpack as an
// AggregationEvent.
func (e Event) EPCIS() EPCISEvent {
	if e.Action == ActPack || e.Action == ActUnpack {
		return e.aggregationEvent()
	}
	v := vocabulary[e.Action]
	ev := EPCISEvent{Type: "ObjectEvent", EventTime: e.Time.UTC().Format(epcisTimeLayout), EventTimeZoneOffset: "+00:00",
		EPCList: []string{}, Action: v[0], BizStep: v[1], Disposition: v[2], Reason: e.Reason, WholeLot: e.WholeLot}
	for _, sn := range e.Serials {
		ev.EPCList = append(ev.EPCList, UnitURI(e.GTIN, sn))
	}
	for _, sscc := range e.SSCCs {
		ev.EPCList, ev.GTIN = append(ev.EPCList, SSCCURI(sscc)), e.GTIN
	}
	switch e.Action {
	case ActCommission:
		ev.ILMD = &ILMD{LotNumber: e.Lot, ItemExpirationDate: e.Expiry}
	case ActShip:
		if e.Org != "" {
			ev.SourceList = []SourceDestElem{{Type: "owning_party", Source: OrgURN(e.Org)}}
		}
		ev.DestinationList = []SourceDestElem{{Type: "owning_party", Destination: OrgURN(e.To)}}
	case ActReceive:
		if e.Org != "" {
			ev.DestinationList = []SourceDestElem{{Type: "owning_party", Destination: OrgURN(e.Org)}}
		}
	case ActRecall:
		ev.QuantityList = []QuantityElem{{EPCClass: LotURI(e.GTIN, e.Lot)}}
	}
	return ev
}

// ParseEPCIS reads an EPCIS 2.0 document (or query document) into events.
// An event it cannot map is an error naming its index (from 0).
func ParseEPCIS(b []byte) ([]Event, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var doc EPCISDocument
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: not an EPCIS JSON document: %w", ErrInvalid, err)
	}
	var list []EPCISEvent
	switch {
	case doc.Type == "EPCISDocument":
		list = doc.EPCISBody.EventList
	case doc.Type == "EPCISQueryDocument" && doc.EPCISBody.QueryResults != nil:
		list = doc.EPCISBody.QueryResults.ResultsBody.EventList
	default:
		return nil, fmt.Errorf("%w: document type %q: want EPCISDocument or EPCISQueryDocument", ErrInvalid, doc.Type)
	}
	if doc.SchemaVersion != "2.0" {
		return nil, fmt.Errorf("%w: schemaVersion %q: want 2.0", ErrInvalid, doc.SchemaVersion)
	}
	if len(list) > MaxEPCISEvents {
		return nil, fmt.Errorf("%w: %d events: at most %d a document", ErrInvalid, len(list), MaxEPCISEvents)
	}
	out := make([]Event, 0, len(list))
	var sales []sale
	for i, ev := range list {
		if ev.Type == "TransactionEvent" {
			s, err := ev.sale()
			if err != nil {
				return nil, &EventError{Index: i, Err: err}
			}
			s.index = i
			sales = append(sales, s)
			continue
		}
		e, err := ev.Event()
		if err != nil {
			return nil, &EventError{Index: i, Err: err}
		}
		out = append(out, e)
	}
	if err := attachSales(out, sales); err != nil {
		return nil, err
	}
	return out, nil
}

// EventError is an event of a document that cannot be read or applied.
type EventError struct {
	Index int // in the document's event list, from 0
	Err   error
}

func (e *EventError) Error() string { return fmt.Sprintf("event #%d: %v", e.Index, e.Err) }

func (e *EventError) Unwrap() error { return e.Err }

// cbvTerm is a CBV term written bare, as a GS1 Web URI or as a URN.
func cbvTerm(s string) string {
	for _, p := range []string{"https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:"} {
		if t, ok := strings.CutPrefix(s, p); ok {
			return t
		}
	}
	return s
}

// actionOf finds the action of an EPCIS event by its bizStep (and, for
// the bizSteps carechain reads several ways, its action).
func actionOf(ev EPCISEvent) (string, error) {
	step, disp := cbvTerm(ev.BizStep), cbvTerm(ev.Disposition)
	for act, v := range vocabulary {
		if v[1] != step {
			continue
		}
		if ev.Action != v[0] && !(act == ActDecommission && ev.Action == "OBSERVE") {
			return "", fmt.Errorf("%w: bizStep %s with action %s: want %s", ErrInvalid, step, ev.Action, v[0])
		}
		if disp != "" && disp != v[2] && !(act == ActRecall || act == ActFlag) {
			return "", fmt.Errorf("%w: bizStep %s with disposition %s: want %s", ErrInvalid, step, disp, v[2])
		}
		if (act == ActRecall || act == ActFlag) && disp != v[2] {
			return "", fmt.Errorf("%w: bizStep %s with disposition %q: carechain reads only %s", ErrInvalid, step, disp, v[2])
		}
		return act, nil
	}
	known := make([]string, 0, len(vocabulary))
	for _, v := range vocabulary {
		known = append(known, v[1])
	}
	slices.Sort(known)
	return "", fmt.Errorf("%w: bizStep %q is not supported (carechain reads %s)", ErrInvalid, ev.BizStep, strings.Join(known, ", "))
}

// Event reads an EPCIS ObjectEvent or AggregationEvent.
func (ev EPCISEvent) Event() (Event, error) {
	if ev.Type == "AggregationEvent" {
		return ev.aggregation()
	}
	if ev.Type != "ObjectEvent" {
		return Event{}, fmt.Errorf("%w: event type %q is not supported (only ObjectEvent, AggregationEvent and, with its shipping, TransactionEvent)", ErrInvalid, ev.Type)
	}
	t, err := time.Parse(time.RFC3339Nano, ev.EventTime)
	if err != nil {
		return Event{}, fmt.Errorf("%w: eventTime %q: want an RFC 3339 time", ErrInvalid, ev.EventTime)
	}
	act, err := actionOf(ev)
	if err != nil {
		return Event{}, err
	}
	e := Event{Action: act, Time: t.UTC(), Reason: ev.Reason, WholeLot: ev.WholeLot}
	if err := e.readObjects(ev); err != nil {
		return Event{}, err
	}
	if err := e.readParties(ev); err != nil {
		return Event{}, err
	}
	if e.BizTransactions, err = readBizTxList(ev.BizTransactionList); err != nil {
		return Event{}, err
	}
	e.Price = ev.Price
	if act == ActCommission {
		if ev.ILMD == nil || ev.ILMD.LotNumber == "" || ev.ILMD.ItemExpirationDate == "" {
			return Event{}, fmt.Errorf("%w: a commissioning event gives ilmd cbvmda:lotNumber and cbvmda:itemExpirationDate", ErrInvalid)
		}
		e.Lot = ev.ILMD.LotNumber
		if e.Expiry, err = ParseExpiry(ev.ILMD.ItemExpirationDate); err != nil {
			return Event{}, err
		}
	}
	if err := e.Check(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// readObjects reads the units (epcList) or, for a recall, the lot
// (quantityList) of ev: one product per event.
func (e *Event) readObjects(ev EPCISEvent) error {
	if e.Action == ActRecall {
		if len(ev.QuantityList) != 1 || len(ev.EPCList) != 0 {
			return fmt.Errorf("%w: a recall names one lot class in its quantityList and no EPC", ErrInvalid)
		}
		var err error
		e.GTIN, e.Lot, err = ParseLotURI(ev.QuantityList[0].EPCClass)
		return err
	}
	if len(ev.QuantityList) != 0 {
		return fmt.Errorf("%w: quantityList: carechain tracks serialized units only (epcList)", ErrInvalid)
	}
	if len(ev.EPCList) == 0 || len(ev.EPCList) > MaxUnits {
		return fmt.Errorf("%w: epcList names 1 to %d units", ErrInvalid, MaxUnits)
	}
	if ev.GTIN != "" {
		e.GTIN = ev.GTIN
	}
	for i, epc := range ev.EPCList {
		if IsSSCCEPC(epc) {
			sscc, err := ParseSSCCEPC(epc)
			if err != nil {
				return fmt.Errorf("epcList #%d: %w", i, err)
			}
			e.SSCCs = append(e.SSCCs, sscc)
			continue
		}
		gtin, sn, err := ParseUnitEPC(epc)
		if err != nil {
			return fmt.Errorf("epcList #%d: %w", i, err)
		}
		if e.GTIN != "" && gtin != e.GTIN {
			return fmt.Errorf("%w: epcList #%d is of GTIN %s, the event's first of %s: one product an event", ErrInvalid, i, gtin, e.GTIN)
		}
		e.GTIN = gtin
		e.Serials = append(e.Serials, sn)
	}
	if len(e.SSCCs) > 0 && ev.GTIN == "" {
		return fmt.Errorf("%w: an event naming cases (SSCCs) gives carechain:gtin, the product of the units in them", ErrInvalid)
	}
	return nil
}

// readParties reads the owning parties of a ship or receive.
func (e *Event) readParties(ev EPCISEvent) error {
	party := func(l []SourceDestElem, dest bool) (string, error) {
		for _, p := range l {
			if cbvTerm(strings.TrimPrefix(p.Type, "https://ref.gs1.org/cbv/SDT-")) != "owning_party" {
				continue
			}
			if dest {
				return ParseOrgURN(p.Destination)
			}
			return ParseOrgURN(p.Source)
		}
		return "", nil
	}
	var err error
	switch e.Action {
	case ActShip:
		if e.Org, err = party(ev.SourceList, false); err != nil {
			return err
		}
		if e.To, err = party(ev.DestinationList, true); err == nil && e.To == "" {
			err = fmt.Errorf("%w: a shipping event names its receiver: destinationList owning_party %s<organization>", ErrInvalid, OrgURNPrefix)
		}
	case ActReceive:
		e.Org, err = party(ev.DestinationList, true)
	}
	return err
}
