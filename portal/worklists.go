package portal

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// The lab and radiology worklists: the open orders to the signed-in
// person's organization (the order's grant names it: ledger/orders.go) in
// the lab or imaging category, oldest first; an order's page shows it and
// the records it names (each read logged, as the order's grant allows) and
// takes the result, written based on the order as a FHIR create by the
// technician or radiologist is: the ledger lets the performer's staff
// write results of an open order only, so a result for a closed order is
// refused (409) with the ledger's reason. The order is closed by the
// organization that placed it ("My orders", orders.go): the ServiceRequest
// is its record, which the performer reads but does not write.

// worklists are the two worklists: the work page (workRoles) and the
// order category of each.
var worklists = map[string]struct{ Category, Title string }{
	"lab":       {"lab", "Lab worklist"},
	"radiology": {"imaging", "Radiology worklist"},
}

func (p *Portal) worklistRoutes(mux *http.ServeMux) {
	for kind := range worklists {
		with := func(h func(http.ResponseWriter, *http.Request, *session, string)) handler {
			return func(w http.ResponseWriter, r *http.Request, s *session) { h(w, r, s, kind) }
		}
		mux.HandleFunc("GET /portal/worklist/"+kind, p.secured(p.worker(kind, with(p.worklist))))
		mux.HandleFunc("GET /portal/worklist/"+kind+"/{order}", p.secured(p.worker(kind, with(p.workOrder))))
		mux.HandleFunc("POST /portal/worklist/"+kind+"/{order}/result", p.secured(p.posted(p.worker(kind, with(p.writeResult)))))
	}
}

// worklistPage is a worklist.
type worklistPage struct {
	Kind, Title string
	Orders      []orderRow
	Done        string
}

// openOrdersTo are the open orders of category whose grants name who's
// organization (or who), with their state.
func openOrdersTo(v *ledger.View, grants []ledger.StoredGrant, category string) map[string]ledger.OrderState {
	out := map[string]ledger.OrderState{}
	for _, g := range grants {
		if g.Order == "" || g.ID != ledger.OrderGrantID(g.Order) {
			continue
		}
		if st, err := v.Order(g.Order); err == nil && st.Open && st.Category == category {
			out[g.Order] = st
		}
	}
	return out
}

func (p *Portal) worklist(w http.ResponseWriter, r *http.Request, s *session, kind string) {
	v := p.app.Latest()
	grants, err := liveGrantsFor(v, s.who, p.now().Unix())
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := worklistPage{Kind: kind, Title: worklists[kind].Title}
	if r.URL.Query().Get("done") == "result" {
		page.Done = "Result written. The ordering clinician sees it in their results inbox, and completes the order."
	}
	for id, st := range openOrdersTo(v, grants, worklists[kind].Category) {
		row, err := p.orderRowOf(r.Context(), v, s.who.ID, id, st)
		if err != nil {
			row.What = "(not readable: " + err.Error() + ")"
		}
		page.Orders = append(page.Orders, row)
	}
	slices.SortFunc(page.Orders, func(a, b orderRow) int { return a.Since.Compare(b.Since) })
	p.render(w, s, http.StatusOK, "worklist", page.Title, page)
}

// workOrderPage is one order of a worklist, with its result form.
type workOrderPage struct {
	Kind     string
	Order    orderRow
	Card     card
	Named    []card // the records the order names
	LabUnits []string
	// What is the ordered test or study (the result form's), "" if the
	// portal's lists do not have it (write its result through FHIR).
	What string
}

// theOrder is order {order} of the path if it is an order to the signed-in
// person's organization, open or not; else an answer that there is none.
func (p *Portal) theOrder(w http.ResponseWriter, r *http.Request, s *session, kind string) (ledger.OrderState, bool) {
	st, err := p.app.Latest().Order(r.PathValue("order"))
	if err != nil || st.Performer != s.who.Org || st.Category != worklists[kind].Category ||
		st.Practitioner != "" && st.Practitioner != s.who.ID {
		p.fail(w, r, s, http.StatusNotFound, "There is no such order to your organization.")
		return st, false
	}
	return st, true
}

func (p *Portal) workOrder(w http.ResponseWriter, r *http.Request, s *session, kind string) {
	st, ok := p.theOrder(w, r, s, kind)
	if !ok {
		return
	}
	v := p.app.Latest()
	id := r.PathValue("order")
	row, err := p.orderRowOf(r.Context(), v, s.who.ID, id, st)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := workOrderPage{Kind: kind, Order: row, LabUnits: labUnits}
	var m fhirMap
	page.Card, m, err = p.readRecord(r.Context(), v, s.who.ID, id)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	if code, ok := strings.CutPrefix(m.codeKey("code"), loinc+"|"); ok {
		if o, ok := orderableOf(st.Category + ":" + code); ok {
			page.What = o.Value()
		}
	}
	if g := grantOf(v, st.Patient, st.Grant); g != nil && len(g.Records) > 1 {
		for _, named := range g.Records[1:] {
			if c, _, err := p.readRecord(r.Context(), v, s.who.ID, named); err == nil {
				page.Named = append(page.Named, c)
			}
		}
	}
	p.render(w, s, http.StatusOK, "workorder", "Order: "+row.What, page)
}

// writeResult writes the form's result of the order: a lab's Observation
// and DiagnosticReport in one transaction, or a radiologist's report.
func (p *Portal) writeResult(w http.ResponseWriter, r *http.Request, s *session, kind string) {
	st, ok := p.theOrder(w, r, s, kind)
	if !ok {
		return
	}
	id := r.PathValue("order")
	what, ok := orderableOf(r.PostForm.Get("what"))
	if !ok || what.Kind != st.Category {
		p.fail(w, r, s, http.StatusBadRequest, "Not written: the form does not say what was ordered.")
		return
	}
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	var err error
	if st.Category == "lab" {
		err = p.writeLabResult(r.Context(), signer, r, st.Patient, id, what)
	} else {
		var body []byte
		if body, err = radiologyReportResource(r.PostForm, st.Patient, id, what, p.now()); err != nil {
			err = malformed(err)
		} else {
			_, err = p.records.Put(r.Context(), signer, records.PutItem{Patient: st.Patient, Category: st.Category, RecordID: records.NewRecordID(), Resource: body})
			clear(body)
		}
	}
	if err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	p.logger.Info("portal result", "principal", s.who.ID, "order", id) // IDs only
	http.Redirect(w, r, "/portal/worklist/"+kind+"?done=result", http.StatusSeeOther)
}

// writeLabResult writes a lab's Observation and the DiagnosticReport
// naming it, both based on order, in one transaction (records.PutBatch).
func (p *Portal) writeLabResult(ctx context.Context, signer records.Signer, r *http.Request, patient, order string, what orderable) error {
	obsID, reportID := records.NewRecordID(), records.NewRecordID()
	obs, report, err := labReportResources(r.PostForm, patient, order, obsID, what, p.now())
	if err != nil {
		return malformed(err)
	}
	defer clear(obs)
	defer clear(report)
	_, err = p.records.PutBatch(ctx, signer, []records.PutItem{
		{Patient: patient, Category: "lab", RecordID: obsID, Resource: obs},
		{Patient: patient, Category: "lab", RecordID: reportID, Resource: report}})
	return err
}

// malformed marks a form's bad input as such (answered 400).
func malformed(err error) error { return carechain.E(carechain.KindMalformed, err) }
