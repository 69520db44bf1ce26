package portal

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// logPage is the patient's access log, filtered.
type logPage struct {
	Rows       []logRow
	People     []option
	Person     string
	From, To   string
	Total      int
	Unanchored bool
}

type logRow struct {
	Time                          time.Time
	Who, Org, What, Purpose       string
	Decision, Reason              string
	Allowed, Emergency, Unchecked bool
}

// accessLog shows the patient's anchored access events (records.Service.
// AuditLog: verified against each node's signed batch and decrypted with
// the patient's key), newest first, by person and date.
func (p *Portal) accessLog(w http.ResponseWriter, r *http.Request, s *session) {
	events, err := p.records.AuditLog(s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	q := r.URL.Query()
	page := logPage{Person: q.Get("person"), From: q.Get("from"), To: q.Get("to"), Total: len(events), Unanchored: p.records.Pending() > 0}
	from, hasFrom := parseDay(page.From)
	to, hasTo := parseDay(page.To)
	v := p.app.Latest()
	var people []string
	for _, e := range events {
		if e.Requester != "" && !slices.Contains(people, e.Requester) {
			people = append(people, e.Requester)
		}
		if page.Person != "" && e.Requester != page.Person ||
			hasFrom && e.Time.Before(from) || hasTo && !e.Time.Before(to.Add(24*time.Hour)) {
			continue
		}
		page.Rows = append(page.Rows, logRowOf(v, e))
	}
	slices.Sort(people)
	for _, id := range people {
		page.People = append(page.People, option{id, principalLabel(v, id)})
	}
	p.render(w, s, http.StatusOK, "log", "Access log", page)
}

// logRowOf describes one access event for people.
func logRowOf(v *ledger.View, e carechain.AccessEvent) logRow {
	row := logRow{Time: e.Time, Who: cmpOr(e.Requester, e.Source, "unknown"), Purpose: e.Purpose, Reason: e.Reason,
		Allowed: e.Decision == carechain.DecisionAllow, Emergency: e.Emergency, Unchecked: e.Unverifiable, Decision: "denied"}
	if e.Requester != "" {
		row.Who = principalLabel(v, e.Requester)
	}
	if e.Client != "" {
		row.Who += " through the app " + e.Client
	}
	if row.Allowed {
		row.Decision = "allowed"
	}
	row.Org = e.RequesterOrg
	if o, err := v.Organization(e.RequesterOrg); err == nil && o.Name != "" {
		row.Org = o.Name
	}
	what := []string{e.Action}
	if e.ResourceType != "" {
		what = append(what, e.ResourceType)
	}
	if e.Category != "" {
		what = append(what, "("+e.Category+")")
	}
	if e.RecordID != "" {
		what = append(what, e.RecordID)
	}
	if e.Count > 1 {
		what = append(what, "×", formatNumber(float64(e.Count)))
	}
	row.What = strings.Join(what, " ")
	return row
}

// parseDay reads a YYYY-MM-DD filter date.
func parseDay(s string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02", s)
	return t, err == nil
}
