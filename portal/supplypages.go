package portal

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// The supply chain's work pages, for an organization's supply staff:
//
//   - the warehouse (/portal/supply/stock): what the organization holds
//     and what is shipped to it, counted by product, lot and status (the
//     ledger knows units by commitment, so counts, not serials), its cases
//     and pallets (supplycases.go), its units and cases of private
//     products, which only its node knows (records.Service.PrivateStock),
//     and the forms to receive, ship, flag as suspect and decommission
//     scanned units, to receive a private shipment whole (of units or of
//     cases), and to pack, unpack, ship and receive cases;
//   - the manufacturer (/portal/supply/products, for a manufacturer's
//     staff): its products and their lots (expiry, units, recall,
//     suspicion), and the forms to register a product, commission a batch,
//     recall a lot and confirm or clear a flag.
//
// Serials are typed or scanned one a line into a form posted to this
// node, turned into commitments here (records.Service), neither stored
// nor logged. Each act is a ledger transaction signed with the user's key;
// a refusal is shown on the page with the ledger's reason.

// stockPage is the warehouse page's data.
type stockPage struct {
	// Holdings are the loose units: a unit packed in a case counts under
	// its case, in Cases.
	Holdings []ledger.SupplyHolding
	Cases    []caseRow
	// Private is the organization's stock of private products, which the
	// ledger's holdings do not count: its node knows them (records.PrivateStock).
	Private records.PrivateStock
	// Stops are the holdings that may be neither sold nor dispensed: a
	// recall, a suspicion or an expiry reaches their custodian here.
	Stops       []ledger.SupplyHolding
	Products    []option // GTINs whose key the organization holds
	Partners    []option // organizations that may receive a shipment
	Done, Error string
}

// productsPage is the manufacturer page's data.
type productsPage struct {
	Products    []productRow
	Done, Error string
}

// productRow is one of the manufacturer's products with its lots.
type productRow struct {
	supply.Product
	Lots []ledger.SupplyLotState
}

func (p *Portal) supplyPageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/supply/stock", p.secured(p.practitioner(p.supplyOnly(p.stock))))
	mux.HandleFunc("POST /portal/supply/stock/{act}", p.secured(p.posted(p.practitioner(p.supplyOnly(p.stockAct)))))
	mux.HandleFunc("POST /portal/supply/stock/case/{act}", p.secured(p.posted(p.practitioner(p.supplyOnly(p.caseAct)))))
	mux.HandleFunc("GET /portal/supply/products", p.secured(p.practitioner(p.manufacturerOnly(p.products))))
	mux.HandleFunc("POST /portal/supply/products/{act}", p.secured(p.posted(p.practitioner(p.manufacturerOnly(p.productAct)))))
}

// manufacturerOnly refuses anyone but the supply staff of a manufacturer.
func (p *Portal) manufacturerOnly(h handler) handler {
	return p.supplyOnly(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !isManufacturer(p.app.Latest(), s.who) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for a manufacturer's supply staff.")
			return
		}
		h(w, r, s)
	})
}

// isManufacturer reports whether pr's organization is a manufacturer.
func isManufacturer(v *ledger.View, pr *carechain.Principal) bool {
	o, err := v.Organization(pr.Org)
	return err == nil && o.Type == carechain.OrgManufacturer
}

// serialsOf is the form field name's serials, one a line (spaces and
// empty lines ignored).
func serialsOf(r *http.Request, name string) []string {
	var out []string
	for _, l := range strings.Split(r.PostForm.Get(name), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (p *Portal) stock(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderStock(w, r, s, http.StatusOK, stockPage{})
}

// stockAct does the warehouse form's act.
func (p *Portal) stockAct(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	f := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	gtin, serials := f("gtin"), serialsOf(r, "serials")
	ctx := r.Context()
	var err error
	var done string
	switch r.PathValue("act") {
	case "receive":
		err, done = p.records.SupplyMove(ctx, signer, tx.MoveReceive, gtin, "", serials), "Received"
	case "ship":
		err, done = p.records.SupplyMove(ctx, signer, tx.MoveShip, gtin, f("to"), serials), "Shipped to "+f("to")
	case "decommission":
		err, done = p.records.SupplyMove(ctx, signer, tx.MoveDecommission, gtin, "", serials), "Decommissioned"
	case "flag":
		err, done = p.records.SupplyFlag(ctx, signer, gtin, f("serial"), f("scope") == "lot", f("reason")), "Flagged as suspect"
		serials = []string{f("serial")}
	case "receive-shipment": // a private shipment, whole, by its claim: the node knows its serials
		var sh records.PrivateShipment
		sh, err = p.records.ReceiveShipment(ctx, signer, gtin, f("claim"))
		done, serials = "Received the shipment from "+sh.From+casesOf(sh.SSCCs), make([]string, sh.Units)
	default:
		p.fail(w, r, s, http.StatusNotFound, "There is no such supply act.")
		return
	}
	page := stockPage{}
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal supply act", "principal", s.who.ID, "act", r.PathValue("act"), "gtin", gtin, "units", len(serials)) // no serial
		page.Done = done + ": " + unitCount(len(serials)) + " of GTIN " + gtin + "."
	}
	p.renderStock(w, r, s, status, page)
}

// actOutcome sorts a supply act's error: nil → 200; a refusal the user
// can mend → its status, with msg set to the reason; else 0 (failErr).
func actOutcome(err error, msg *string) int {
	if err == nil {
		return http.StatusOK
	}
	kind := carechain.KindOf(err)
	if kind == carechain.KindPermission || kind == carechain.KindInvalid || kind == carechain.KindMalformed || kind == carechain.KindConflict {
		*msg = "Not done: " + strings.TrimPrefix(err.Error(), "invalid: ") + "."
		return kind.Status()
	}
	return 0
}

func (p *Portal) renderStock(w http.ResponseWriter, r *http.Request, s *session, status int, page stockPage) {
	v, now := p.app.Latest(), p.now()
	all, err := v.SupplyHoldings(s.who.Org, now)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	ssccs, err := p.journalSSCCs(s.who)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if page.Cases, page.Holdings, err = heldCases(v, s.who.Org, all, ssccs, now); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if page.Private, err = p.records.PrivateStock(s.who); err != nil {
		p.failErr(w, r, s, err)
		return
	}
	seen := map[string]bool{}
	for _, h := range slices.Concat(all, page.Private.Held, page.Private.Packed) { // packed units too: a stop reaches their custodian
		if h.Stop != "" {
			page.Stops = append(page.Stops, h)
		}
		if !seen[h.GTIN] {
			seen[h.GTIN] = true
			page.Products = append(page.Products, option{Value: h.GTIN, Label: h.Product + " (" + h.GTIN + ")"})
		}
	}
	orgs, err := v.Organizations()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, o := range orgs {
		switch o.Type {
		case carechain.OrgManufacturer, carechain.OrgWholesaler, carechain.OrgPharmacy, carechain.OrgHospital:
			if o.ID != s.who.Org {
				page.Partners = append(page.Partners, option{Value: o.ID, Label: o.Name + " (" + o.ID + ")"})
			}
		}
	}
	p.render(w, s, status, "supplystock", "Warehouse", page)
}

// casesOf is " (case SSCC a, b)" naming a shipment's cases, or "" for
// loose units.
func casesOf(ssccs []string) string {
	switch len(ssccs) {
	case 0:
		return ""
	case 1:
		return " (case SSCC " + ssccs[0] + ")"
	}
	return " (cases SSCC " + strings.Join(ssccs, ", ") + ")"
}

// unitCount is "1 unit" or "n units".
func unitCount(n int) string {
	if n == 1 {
		return "1 unit"
	}
	return fmt.Sprintf("%d units", n)
}

func (p *Portal) products(w http.ResponseWriter, r *http.Request, s *session) {
	p.renderProducts(w, r, s, http.StatusOK, productsPage{})
}

// productAct does the manufacturer form's act.
func (p *Portal) productAct(w http.ResponseWriter, r *http.Request, s *session) {
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	f := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	gtin, ctx := f("gtin"), r.Context()
	var err error
	var done string
	switch r.PathValue("act") {
	case "register":
		err = p.records.SupplyRegister(ctx, signer, supply.Product{GTIN: gtin, Name: f("name"), Form: f("form"), Strength: f("strength"), Kind: supply.Kind(f("kind")),
			Private: r.PostForm.Get("private") != ""})
		done = "Registered " + f("name") + " (GTIN " + gtin + ")."
	case "commission":
		serials := serialsOf(r, "serials")
		err = p.records.SupplyCommission(ctx, signer, gtin, f("lot"), f("expiry"), serials)
		done = "Commissioned " + unitCount(len(serials)) + " of GTIN " + gtin + " in lot " + f("lot") + "."
	case "recall":
		err = p.records.SupplyRecall(ctx, signer, gtin, f("lot"), f("reason"))
		done = "Recalled lot " + f("lot") + " of GTIN " + gtin + ": no unit of it can be sold or dispensed any more."
	case "resolve":
		err = p.records.SupplyResolve(ctx, signer, gtin, f("serial"), f("lot"), f("outcome"))
		done = "Flag " + map[string]string{tx.ResolveConfirm: "confirmed: illegitimate", tx.ResolveClear: "cleared"}[f("outcome")] + "."
	default:
		p.fail(w, r, s, http.StatusNotFound, "There is no such supply act.")
		return
	}
	page := productsPage{}
	status := actOutcome(err, &page.Error)
	if status == 0 {
		p.failErr(w, r, s, err)
		return
	}
	if err == nil {
		p.logger.Info("portal supply act", "principal", s.who.ID, "act", r.PathValue("act"), "gtin", gtin) // no serial
		page.Done = done
	}
	p.renderProducts(w, r, s, status, page)
}

func (p *Portal) renderProducts(w http.ResponseWriter, r *http.Request, s *session, status int, page productsPage) {
	v := p.app.Latest()
	products, err := v.SupplyProductsOf(s.who.Org)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, pr := range products {
		lots, err := v.SupplyLots(pr.GTIN)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		page.Products = append(page.Products, productRow{Product: pr, Lots: lots})
	}
	p.render(w, s, status, "supplyproducts", "Products and lots", page)
}
