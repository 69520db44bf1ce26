package portal

import (
	"net/http"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// The medicine verification page (/portal/supply/verify), for an
// organization's supply staff — pharmacists and supply officers: a unit's
// GS1 DataMatrix content, typed or as a scanner fills it (the element
// string, bracketed or with FNC1 separators), and the organization
// offering it; the answer, GENUINE or DO NOT ACCEPT with its reasons, is
// the node's verification (records.Service.VerifyUnit, as POST
// /v1/supply/verify). A genuine unit the organization holds can be
// dispensed from the page (a supply.move dispense). Serials travel in POST
// bodies only, are not stored and not logged.

// supplyPage is the page's data.
type supplyPage struct {
	Scan   supply.Scan
	Code   string // the element string as scanned
	Result *supply.Verification
	// Dispensable: the unit is genuine and held, received, by the user's
	// organization.
	Dispensable bool
	Done, Error string
}

// isSupplyStaff reports whether pr may use the page: a practitioner with
// the role pharmacist or supply officer (supply.Staff).
func isSupplyStaff(pr *carechain.Principal) bool {
	return pr != nil && pr.Kind == carechain.KindPractitioner && supply.Staff(pr)
}

func (p *Portal) supplyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/supply/verify", p.secured(p.practitioner(p.supplyOnly(p.supplyVerifyForm))))
	mux.HandleFunc("POST /portal/supply/verify", p.secured(p.posted(p.practitioner(p.supplyOnly(p.supplyVerify)))))
	mux.HandleFunc("POST /portal/supply/dispense", p.secured(p.posted(p.practitioner(p.supplyOnly(p.supplyDispense)))))
}

// supplyOnly refuses anyone but supply staff.
func (p *Portal) supplyOnly(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		if !isSupplyStaff(s.who) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for pharmacists and supply officers.")
			return
		}
		h(w, r, s)
	}
}

func (p *Portal) supplyVerifyForm(w http.ResponseWriter, r *http.Request, s *session) {
	p.render(w, s, http.StatusOK, "supply", "Verify a medicine", supplyPage{})
}

// scanOf is the form's scan: the element string (field "code"), if any,
// then the fields typed, which fill what it does not give.
func scanOf(r *http.Request) (supply.Scan, string, error) {
	f := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	typed := supply.Scan{GTIN: f("gtin"), Serial: f("serial"), Lot: f("lot"), Expiry: f("expiry"), Seller: f("seller")}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		return typed, "", typed.Check()
	}
	scan, err := supply.ParseElementString(code)
	if err != nil {
		return typed, code, err
	}
	scan.Seller = typed.Seller
	if scan.Lot == "" {
		scan.Lot = typed.Lot
	}
	if scan.Expiry == "" {
		scan.Expiry = typed.Expiry
	}
	return scan, code, scan.Check()
}

func (p *Portal) supplyVerify(w http.ResponseWriter, r *http.Request, s *session) {
	scan, code, err := scanOf(r)
	page := supplyPage{Scan: scan, Code: code}
	if err != nil {
		page.Error = "This scan cannot be verified: " + strings.TrimPrefix(err.Error(), "invalid: ") + "."
		p.render(w, s, http.StatusBadRequest, "supply", "Verify a medicine", page)
		return
	}
	v, err := p.records.VerifyUnit(s.who, scan)
	if kind := carechain.KindOf(err); err != nil && (kind == carechain.KindPermission || kind == carechain.KindInvalid) {
		page.Error = "This unit cannot be verified here: " + err.Error() + "."
		p.render(w, s, kind.Status(), "supply", "Verify a medicine", page)
		return
	} else if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page.Result = &v
	page.Dispensable = v.Genuine && v.Status == supply.StatusActive && v.Custodian == s.who.Org
	p.render(w, s, http.StatusOK, "supply", "Verify a medicine", page)
}

// supplyDispense dispenses the unit of the form's GTIN and serial: the
// ledger refuses it unless the user's organization holds it and nothing
// stops its dispense.
func (p *Portal) supplyDispense(w http.ResponseWriter, r *http.Request, s *session) {
	gtin, serial := r.PostForm.Get("gtin"), r.PostForm.Get("serial")
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if err := p.records.SupplyMove(r.Context(), signer, tx.MoveDispense, gtin, "", []string{serial}); err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.logger.Info("portal supply dispense", "principal", s.who.ID, "gtin", gtin) // no serial
	page := supplyPage{Done: "Dispensed: the unit of GTIN " + gtin + " has left the supply chain."}
	p.render(w, s, http.StatusOK, "supply", "Verify a medicine", page)
}
