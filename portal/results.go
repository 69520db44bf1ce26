package portal

import (
	"net/http"
	"slices"
	"time"

	"github.com/carechain/carechain/ledger"
)

// The results inbox: the results (Observations, DiagnosticReports) that
// other organizations wrote on the orders the signed-in clinician's
// organization placed, newest first, those written since the clinician
// last saw the inbox marked new (kept in this node's memory: after a
// restart, everything is new once). The ledger lists them in plain:
// each order's results grant (ledger.ResultsGrantID) to the organization
// that placed it names the results as they are written; each is read
// through records.Service.Read (consent-checked, logged).

// resultRow is one result in the inbox.
type resultRow struct {
	Order, Record string
	Patient       string
	Card          card
	OrderWhat     string
	Written       time.Time
	New           bool
}

// resultsPage is the inbox.
type resultsPage struct {
	Results []resultRow
	Unread  int
}

func (p *Portal) resultsInbox(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	grants, err := liveGrantsFor(v, s.who, p.now().Unix())
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	var seen int64
	if t, ok := p.resultsSeen.Load(s.who.ID); ok {
		seen = t.(int64)
	}
	var page resultsPage
	for _, g := range grants {
		if g.Order == "" || g.ID != ledger.ResultsGrantID(g.Order) {
			continue // not an order's results
		}
		what := ""
		if c, _, err := p.readRecord(r.Context(), v, s.who.ID, g.Order); err == nil {
			what = c.Title
		}
		for _, id := range g.Records {
			rv, err := v.RecordVersion(id, 0)
			if err != nil || rv.Deleted {
				continue
			}
			c, _, err := p.readRecord(r.Context(), v, s.who.ID, id)
			if err != nil {
				continue // refused (and logged): not a result this clinician reads
			}
			row := resultRow{Order: g.Order, Record: id, Patient: g.Patient, Card: c, OrderWhat: what,
				Written: time.Unix(rv.Time, 0).UTC(), New: rv.Time > seen}
			if row.New {
				page.Unread++
			}
			page.Results = append(page.Results, row)
		}
	}
	slices.SortFunc(page.Results, func(a, b resultRow) int { return b.Written.Compare(a.Written) })
	p.resultsSeen.Store(s.who.ID, p.now().Unix())
	p.render(w, s, http.StatusOK, "results", "Results", page)
}

// resultPageData is one result with the order it answers.
type resultPageData struct {
	Result, Order card
	Others        []card // the order's other results
	Patient       string
	Short         string
}

// resultPage shows result {record} of order {order}: the result, the
// order and the order's other results, each as a card.
func (p *Portal) resultPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	order, id := r.PathValue("order"), r.PathValue("record")
	st, err := v.Order(order)
	g := grantOf(v, st.Patient, ledger.ResultsGrantID(order))
	if err != nil || g == nil || !g.Grantee.Matches(s.who) || !slices.Contains(g.Records, id) {
		p.fail(w, r, s, http.StatusNotFound, "There is no such result of your organization's orders.")
		return
	}
	res, _, err := p.readRecord(r.Context(), v, s.who.ID, id)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	ord, _, err := p.readRecord(r.Context(), v, s.who.ID, order)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := resultPageData{Result: res, Order: ord, Patient: st.Patient, Short: shortPatient(st.Patient)}
	for _, other := range g.Records {
		if other == id {
			continue
		}
		if c, _, err := p.readRecord(r.Context(), v, s.who.ID, other); err == nil {
			page.Others = append(page.Others, c)
		}
	}
	p.render(w, s, http.StatusOK, "result", res.Title, page)
}
