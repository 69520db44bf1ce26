package portal

import (
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Cases and pallets on the warehouse page (supply/case.go): the cases the
// organization holds, ships or is shipped, each with its units, which are
// counted under their case and not as loose stock; and the forms to pack
// scanned units into a case, unpack it, ship a case and receive one. Each
// act is the supply event the CLI submits (records.Service.SupplyCapture:
// the same commitments, transaction and journal entry as "supply pack",
// "unpack", "ship --sscc" and "receive --sscc"). The ledger knows a case
// only by a commitment to its SSCC, so the page names a case by its SSCC
// when the organization's supply journal on this node does (it packed or
// received it); SSCCs, like serials, are never logged.

// caseRow is a case or pallet the organization holds, ships or is shipped.
type caseRow struct {
	GTIN, Product string
	SSCC          string // empty when the journal names no case with its commitment
	Lots          []string
	Units         int
	Status        string // held, in transit to …, incoming from …
}

// caseActs are the case forms' acts, by the path's {act}.
var caseActs = map[string]string{"pack": supply.ActPack, "unpack": supply.ActUnpack, "ship": supply.ActShip, "receive": supply.ActReceive}

// caseAct does a case form's act.
func (p *Portal) caseAct(w http.ResponseWriter, r *http.Request, s *session) {
	action, ok := caseActs[r.PathValue("act")]
	if !ok {
		p.fail(w, r, s, http.StatusNotFound, "There is no such case act.")
		return
	}
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	f := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	e := supply.Event{Action: action, GTIN: f("gtin"), SSCCs: []string{f("sscc")}}
	if action == supply.ActPack || action == supply.ActUnpack {
		e.Serials = serialsOf(r, "serials")
	}
	if action == supply.ActShip {
		e.To = f("to")
	}
	_, err := p.records.SupplyCapture(r.Context(), signer, []supply.Event{e})
	page := stockPage{}
	status := actOutcome(unindexed(err), &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal supply case act", "principal", s.who.ID, "act", action, "gtin", e.GTIN, "units", len(e.Serials)) // no SSCC, no serial
		page.Done = caseDone(e)
	}
	p.renderStock(w, r, s, status, page)
}

// unindexed is err, a one-event capture's error, without the event's
// index ("event #0: "), keeping its kind.
func unindexed(err error) error {
	var ee *supply.EventError
	if errors.As(err, &ee) {
		return carechain.E(carechain.KindOf(err), ee.Err)
	}
	return err
}

// caseDone says what case act e did.
func caseDone(e supply.Event) string {
	c := "case SSCC " + e.SSCCs[0]
	switch e.Action {
	case supply.ActPack:
		return "Packed " + unitCount(len(e.Serials)) + " of GTIN " + e.GTIN + " into " + c + "."
	case supply.ActUnpack:
		if len(e.Serials) == 0 {
			return "Unpacked every unit of " + c + ": the case is gone."
		}
		return "Unpacked " + unitCount(len(e.Serials)) + " of GTIN " + e.GTIN + " from " + c + "."
	case supply.ActShip:
		return "Shipped " + c + " with its units to " + e.To + "."
	default:
		return "Received " + c + " with its units."
	}
}

// heldCases returns the cases org holds, ships or is shipped, of the
// products in holdings (org's holdings at now, packed units included),
// and holdings without their packed units. ssccs names cases by product
// and hex commitment (journalSSCCs).
func heldCases(v *ledger.View, org string, holdings []ledger.SupplyHolding, ssccs map[string]map[string]string, now time.Time) ([]caseRow, []ledger.SupplyHolding, error) {
	names := map[string]string{}
	var gtins []string
	for _, h := range holdings {
		if _, ok := names[h.GTIN]; !ok {
			names[h.GTIN] = h.Product
			gtins = append(gtins, h.GTIN)
		}
	}
	packed := map[ledger.SupplyHolding]int{}
	var rows []caseRow
	for _, gtin := range gtins {
		prefix := supply.CaseKey(gtin, nil)
		err := v.Scan(prefix, func(key string, val []byte) error {
			var k supply.Case
			if err := tx.UnmarshalState(val, &k); err != nil {
				return err
			}
			row, ok := caseRowOf(&k, org)
			if !ok {
				return nil
			}
			row.GTIN, row.Product, row.SSCC = gtin, names[gtin], ssccs[gtin][strings.TrimPrefix(key, prefix)]
			for _, c := range k.Units {
				u, lot, err := v.SupplyUnit(gtin, c)
				if err != nil {
					return err
				}
				packed[ledger.HoldingOf(org, gtin, names[gtin], u, lot, now)]++
				if !slices.Contains(row.Lots, u.Lot) {
					row.Lots = append(row.Lots, u.Lot)
				}
			}
			row.Units = len(k.Units)
			rows = append(rows, row)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	var loose []ledger.SupplyHolding
	for _, h := range holdings {
		key := h
		key.Units = 0 // packed counts by holding, units aside
		if h.Units -= packed[key]; h.Units > 0 {
			loose = append(loose, h)
		}
	}
	return rows, loose, nil
}

// caseRowOf is case k's row for org, with its status, if org holds it,
// ships it or is shipped it.
func caseRowOf(k *supply.Case, org string) (caseRow, bool) {
	switch {
	case k.Status == supply.StatusInTransit && k.To == org:
		return caseRow{Status: "incoming from " + k.Custodian}, true
	case k.Custodian != org:
		return caseRow{}, false
	case k.Status == supply.StatusInTransit:
		return caseRow{Status: "in transit to " + k.To}, true
	default:
		return caseRow{Status: "held"}, true
	}
}

// journalSSCCs names the cases in the supply journal of who's
// organization on this node: by GTIN, the hex commitment of each SSCC the
// journal holds. None if this node keeps no journal of the organization.
func (p *Portal) journalSSCCs(who *carechain.Principal) (map[string]map[string]string, error) {
	events, err := p.records.SupplyEvents(who, supply.EventQuery{})
	if err != nil && carechain.KindOf(err) == carechain.KindPermission {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	byGTIN := map[string][]string{}
	seen := map[string]bool{}
	for _, e := range events {
		for _, sscc := range e.SSCCs {
			if !seen[e.GTIN+"/"+sscc] {
				seen[e.GTIN+"/"+sscc] = true
				byGTIN[e.GTIN] = append(byGTIN[e.GTIN], sscc)
			}
		}
	}
	out := map[string]map[string]string{}
	for gtin, ssccs := range byGTIN {
		out[gtin] = map[string]string{}
		for chunk := range slices.Chunk(ssccs, supply.MaxCasesPerMove) {
			cs, _, err := p.records.SupplyCaseCommitments(who, gtin, chunk, "")
			if err != nil && carechain.KindOf(err) == carechain.KindPermission {
				break // the product's key is no longer the organization's to open
			} else if err != nil {
				return nil, err
			}
			for i, c := range cs {
				out[gtin][hex.EncodeToString(c)] = chunk[i]
			}
		}
	}
	return out, nil
}
