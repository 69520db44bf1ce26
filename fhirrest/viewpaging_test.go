package fhirrest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// nextLink is a searchset's next link, or "".
func nextLink(body map[string]any) string {
	for _, l := range asAnyList(body["link"]) {
		if l := l.(map[string]any); l["relation"] == "next" {
			return l["url"].(string)
		}
	}
	return ""
}

// TestAuditEventSearchPages: the patient's access log, searched with
// _count, comes in pages of that many with next links that walk every
// event once, the total the whole log's; without _count it is one Bundle;
// a bad _count is a 400. Consent and Provenance searches page the same way.
func TestAuditEventSearchPages(t *testing.T) {
	e := setup(t)
	drA := e.token("hosp-a/dr-a")
	id := e.createGlucose(drA, 100)
	for range 4 {
		if r := e.do("GET", "/fhir/Observation/"+id, drA, nil); r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.rawBody)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.svc.Flush(ctx, e.nodePrincipal(ctx)); err != nil {
		t.Fatal(err)
	}
	patient := e.patientToken()
	all := e.do("GET", "/fhir/AuditEvent?patient=Patient/p", patient, nil)
	total := len(asAnyList(all.body["entry"]))
	if all.status != 200 || total < 5 || all.body["total"] != float64(total) || nextLink(all.body) != "" {
		t.Fatalf("the whole log: %d entries of total %v, next %q", total, all.body["total"], nextLink(all.body))
	}
	seen := map[string]bool{}
	pages := 0
	for link := e.srv.URL + "/fhir/AuditEvent?patient=Patient/p&_count=2"; link != ""; pages++ {
		u, _ := url.Parse(link)
		r := e.do("GET", u.RequestURI(), patient, nil)
		entries := asAnyList(r.body["entry"])
		if r.status != 200 || len(entries) == 0 || len(entries) > 2 || r.body["total"] != float64(total) {
			t.Fatalf("page %d (%s): %d, %d entries, total %v", pages, link, r.status, len(entries), r.body["total"])
		}
		for _, en := range entries {
			id := en.(map[string]any)["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("event %s on two pages", id)
			}
			seen[id] = true
		}
		link = nextLink(r.body)
		if pages > total {
			t.Fatal("the next links do not end")
		}
	}
	if len(seen) != total || pages != (total+1)/2 {
		t.Errorf("the pages hold %d events in %d pages; the log has %d", len(seen), pages, total)
	}
	e.do("GET", "/fhir/AuditEvent?patient=Patient/p&_count=lots", patient, nil).outcome(t, 400, "_count")
	signer := records.Signer{ID: "patient/p", Key: e.keys["patient/p"]}
	for _, who := range []string{"hosp-b/dr-b", "hosp-b"} {
		g := consent.Grant{Categories: []string{"general"}, Actions: []consent.Action{consent.ActionRead},
			Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60}
		if g.Grantee.Principal = who; who == "hosp-b" {
			g.Grantee = consent.Grantee{Org: who}
		}
		if _, err := e.svc.Grant(ctx, signer, g); err != nil {
			t.Fatal(err)
		}
	}
	consents := e.do("GET", "/fhir/Consent?patient=Patient/p&_count=1", patient, nil)
	if consents.status != 200 || len(asAnyList(consents.body["entry"])) != 1 || consents.body["total"] != 2.0 || nextLink(consents.body) == "" {
		t.Errorf("Consent search with _count=1: %d %s", consents.status, consents.rawBody)
	}
	if r := e.do("GET", "/fhir/Provenance?target=Observation/"+id+"&_count=1", drA, nil); r.status != 200 || len(asAnyList(r.body["entry"])) > 1 || !strings.Contains(string(r.rawBody), `"self"`) {
		t.Errorf("Provenance search with _count=1: %d %s", r.status, r.rawBody)
	}
}
