package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// The clinician's orders (issue 20): from a chart, an order
// (ServiceRequest) of a lab test or an imaging study to another
// organization, written as a FHIR create by the clinician is
// (records.Service.Put), so the ledger's order rules decide it
// (ledger/orders.go: the patient's order rule, the performer's grant);
// "My orders" lists the orders the signed-in clinician placed with their
// state on the ledger, and completes or revokes one (the ServiceRequest's
// next version, which closes the order). The results inbox is results.go;
// the performer's side, worklists.go; the pharmacy queue, pharmacy.go.
//
// The pages find orders on the ledger (which order is to whom, which
// result answers it: ledger.OrderState and the order's grants, in plain
// there) and read what an order or a result says through
// records.Service.Read: consent-checked and in the patient's access log.
// Finding walks every patient's grants or records, as the Patients page
// does: fine for a node's patients, not for millions.

// workRoles are the roles that use each work page; the nav links only
// those a person may use, and the pages refuse the others.
var workRoles = map[string][]carechain.Role{
	"orders":    {carechain.RolePhysician, carechain.RoleSpecialist, carechain.RoleHeadOfDepartment, carechain.RoleNurse},
	"lab":       {carechain.RoleLabTechnician},
	"radiology": {carechain.RoleRadiologist, carechain.RoleHeadOfRadiology},
	"pharmacy":  {carechain.RolePharmacist},
}

// mayUse reports whether who may use work page page.
func mayUse(page string, who *carechain.Principal) bool {
	return who != nil && who.Kind == carechain.KindPractitioner && slices.ContainsFunc(workRoles[page], who.HasRole)
}

// worker is work page page, for signed-in practitioners with one of its
// roles.
func (p *Portal) worker(page string, h handler) http.HandlerFunc {
	return p.practitioner(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !mayUse(page, s.who) {
			p.fail(w, r, s, http.StatusForbidden, "This page is for staff whose role uses it; your role does not.")
			return
		}
		h(w, r, s)
	})
}

func (p *Portal) orderRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/patients/{id}/order", p.secured(p.worker("orders", p.orderPage)))
	mux.HandleFunc("POST /portal/patients/{id}/order", p.secured(p.posted(p.worker("orders", p.placeOrder))))
	mux.HandleFunc("GET /portal/orders", p.secured(p.worker("orders", p.myOrders)))
	mux.HandleFunc("POST /portal/orders/{order}/{action}", p.secured(p.posted(p.worker("orders", p.closeOrder))))
	mux.HandleFunc("GET /portal/results", p.secured(p.worker("orders", p.resultsInbox)))
	mux.HandleFunc("GET /portal/results/{order}/{record}", p.secured(p.worker("orders", p.resultPage)))
	p.worklistRoutes(mux)
	p.pharmacyRoutes(mux)
}

// orderFormPage is the order form of a patient's chart.
type orderFormPage struct {
	Patient, Short string
	Orgs           []option
	Lab, Imaging   []orderable
	Records        []option // the patient's records the clinician may name
}

func (p *Portal) orderPage(w http.ResponseWriter, r *http.Request, s *session) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return
	}
	v := p.app.Latest()
	page := orderFormPage{Patient: patient, Short: shortPatient(patient), Lab: labTests, Imaging: imagingOrderables()}
	orgs, err := v.Organizations()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, o := range orgs {
		if o.ID != s.who.Org {
			page.Orgs = append(page.Orgs, option{o.ID, cmpOr(o.Name, o.ID) + " (" + string(o.Type) + ")"})
		}
	}
	// The records the clinician may read (a logged list, no record decrypted).
	if heads, err := p.records.List(r.Context(), s.who.ID, patient, purpose); err == nil {
		for _, h := range heads {
			if !h.Deleted && h.ResourceType != records.MessageType {
				page.Records = append(page.Records, option{h.ResourceType + "/" + h.RecordID, h.ResourceType + " " + h.RecordID + " (" + h.Category + ")"})
			}
		}
	}
	p.render(w, s, http.StatusOK, "order", "Order for "+patient, page)
}

// placeOrder writes the form's ServiceRequest; a refusal (the patient's
// order rule, the role policy) shows the ledger's reason.
func (p *Portal) placeOrder(w http.ResponseWriter, r *http.Request, s *session) {
	patient, ok := p.chartPatient(w, r, s)
	if !ok {
		return
	}
	v := p.app.Latest()
	orgs, err := v.Organizations()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	var ids []string
	for _, o := range orgs {
		if o.ID != s.who.Org {
			ids = append(ids, o.ID)
		}
	}
	form, err := readOrderForm(r.PostForm, ids)
	var body []byte
	if err == nil {
		performer, _ := v.Organization(form.Performer)
		body, err = serviceRequestResource(form, patient, p.displayName(s.who), cmpOr(performer.Name, form.Performer), p.now())
	}
	if err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Not ordered: "+err.Error()+".")
		return
	}
	if _, ok := p.writeNew(w, r, s, patient, form.What.Kind, body); ok {
		http.Redirect(w, r, "/portal/orders?done=ordered", http.StatusSeeOther)
	}
}

// orderRow is one order for people.
type orderRow struct {
	ID, Patient, Short string
	What, To, From     string
	Reason             string
	Since              time.Time
	Status             string // open, results in, completed (closed)
	Open               bool
	Results            []string // record IDs of the results written so far
}

// readRecord reads record id's latest version for requester
// (records.Service.Read: consent-checked, logged) as a card and its
// decoded resource.
func (p *Portal) readRecord(ctx context.Context, v *ledger.View, requester, id string) (card, fhirMap, error) {
	rec, err := p.records.Read(ctx, requester, id, 0, purpose)
	if err != nil {
		return card{}, nil, err
	}
	defer clear(rec.Resource)
	var m fhirMap
	if err := json.Unmarshal(rec.Resource, &m); err != nil {
		return card{}, nil, fmt.Errorf("record %s: %w", id, err)
	}
	c, err := cardOf(*rec, func(id string) string { return principalLabel(v, id) })
	return c, m, err
}

// orderRowOf is order id (its state st) as requester reads it.
func (p *Portal) orderRowOf(ctx context.Context, v *ledger.View, requester, id string, st ledger.OrderState) (orderRow, error) {
	row := orderRow{ID: id, Patient: st.Patient, Short: shortPatient(st.Patient), Open: st.Open, Status: "completed or revoked (closed)"}
	if o, err := v.Organization(st.Performer); err == nil {
		row.To = cmpOr(o.Name, o.ID)
	}
	if first, err := v.RecordVersion(id, 1); err == nil {
		row.From, row.Since = principalLabel(v, first.Author), time.Unix(first.Time, 0).UTC()
	}
	if g := grantOf(v, st.Patient, ledger.ResultsGrantID(id)); g != nil {
		row.Results = g.Records
	}
	if st.Open {
		row.Status = "open"
		if len(row.Results) > 0 {
			row.Status = "results in"
		}
	}
	c, m, err := p.readRecord(ctx, v, requester, id)
	if err != nil {
		return row, err
	}
	row.What, row.Reason = c.Title, m.concept("reasonCode")
	if !st.Open {
		row.Status = cmpOr(m.str("status"), "closed")
	}
	return row, nil
}

// ordersPage is "My orders".
type ordersPage struct {
	Orders []orderRow
	Done   string
}

// myOrders lists the orders to other organizations the signed-in
// clinician placed, newest first.
func (p *Portal) myOrders(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	patients, err := activePatients(v)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := ordersPage{Done: map[string]string{"ordered": "Order placed.", "complete": "Order completed.", "revoke": "Order revoked."}[r.URL.Query().Get("done")]}
	for _, pt := range patients {
		heads, err := v.PatientRecords(pt)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		for _, h := range heads {
			if h.ResourceType != "ServiceRequest" || h.Owner != s.who.Org {
				continue
			}
			st, err := v.Order(h.RecordID)
			if first, ferr := v.RecordVersion(h.RecordID, 1); err != nil || ferr != nil || first.Author != s.who.ID {
				continue // no order to another organization, or another's
			}
			row, err := p.orderRowOf(r.Context(), v, s.who.ID, h.RecordID, st)
			if err != nil {
				row.What = "(not readable: " + err.Error() + ")"
			}
			page.Orders = append(page.Orders, row)
		}
	}
	slices.SortFunc(page.Orders, func(a, b orderRow) int { return b.Since.Compare(a.Since) })
	p.render(w, s, http.StatusOK, "orders", "My orders", page)
}

// closingStatuses are the ServiceRequest statuses "My orders" sets.
var closingStatuses = map[string]string{"complete": "completed", "revoke": "revoked"}

// closeOrder writes the order's next version with status completed or
// revoked: the ledger closes the order (its grant ends; a later result is
// refused).
func (p *Portal) closeOrder(w http.ResponseWriter, r *http.Request, s *session) {
	status, ok := closingStatuses[r.PathValue("action")]
	id := r.PathValue("order")
	v := p.app.Latest()
	head, err := v.Record(id)
	st, serr := v.Order(id)
	if !ok || err != nil || serr != nil || head.ResourceType != "ServiceRequest" || st.Placer != s.who.Org {
		p.fail(w, r, s, http.StatusNotFound, "There is no such order of your organization.")
		return
	}
	rec, err := p.records.Read(r.Context(), s.who.ID, id, 0, purpose)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	defer clear(rec.Resource)
	var m jsonObj
	err = json.Unmarshal(rec.Resource, &m)
	m["status"] = status
	b, merr := json.Marshal(m)
	defer clear(b)
	res, perr := fhirjson.Parse(b)
	if err = errors.Join(err, merr, perr); err == nil {
		err = res.SetID(id)
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	res.DropMeta()
	signer, ok := p.signer(w, r, s)
	if !ok {
		return
	}
	if _, err := p.records.Put(r.Context(), signer, records.PutItem{Patient: head.Patient, Category: head.Category, RecordID: id, Parsed: res, IfMatch: head.Latest}); err != nil {
		p.refusedWrite(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/orders?done="+r.PathValue("action"), http.StatusSeeOther)
}

// activePatients are the IDs of the ledger's active patients.
func activePatients(v *ledger.View) ([]string, error) {
	ps, err := v.Principals("")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pt := range ps {
		if pt.Kind == carechain.KindPatient && pt.Status == carechain.StatusActive {
			out = append(out, pt.ID)
		}
	}
	return out, nil
}

// liveGrantsFor are the live grants of the patients that name who (by ID,
// organization or role), with their patient.
func liveGrantsFor(v *ledger.View, who *carechain.Principal, now int64) ([]ledger.StoredGrant, error) {
	patients, err := activePatients(v)
	if err != nil {
		return nil, err
	}
	var out []ledger.StoredGrant
	for _, pt := range patients {
		gs, err := v.Grants(pt)
		if err != nil {
			return nil, err
		}
		for _, g := range gs {
			if !g.Revoked && (g.NotAfter == 0 || g.NotAfter > now) && g.NotBefore <= now && g.Grantee.Matches(who) {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// grantOf is patient's grant id, or nil.
func grantOf(v *ledger.View, patient, id string) *ledger.StoredGrant {
	gs, err := v.Grants(patient)
	if err != nil {
		return nil
	}
	return gs.Find(id)
}
