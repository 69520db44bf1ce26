package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestPortalStudyReviewOnInitConsortium runs the ethics board's and the
// sponsor's pages over plain HTTP on a consortium made with init: the lab
// registers a study with the hospital as its ethics board and proposes
// amendment 2 through the CLI; the hospital's admin reads its reason and
// changes on Study amendments, a decision on a version not pending is
// refused with the ledger's reason, and the admin rejects it with a
// reason, which the lab's admin then reads on Sponsored studies beside
// version 1 in force; the lab's admin is refused the board's page, and the hospital's admin
// finds no study of its own on Sponsored studies (any organization may
// register one there).
func TestPortalStudyReviewOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	c := foundConsortium(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "protocol.txt"), "protocol v1")
	writeFile(t, filepath.Join(dir, "sap.txt"), "analysis plan v1")
	c.cli("study", "register", "--as", "lab/admin", "--id", "bp-1", "--title", "Blood pressure study", "--ethics-board", "hosp",
		"--protocol", filepath.Join(dir, "protocol.txt"), "--analysis-plan", filepath.Join(dir, "sap.txt"),
		"--eligibility", "Adults with hypertension", "--data-category", "vital-signs",
		"--endpoint", "primary:sbp-3m:Systolic pressure at 3 months", "--arm", "drug:Drug", "--arm", "placebo:Placebo")
	c.cli("study", "amend", "bp-1", "--as", "lab/admin", "--reason", "Heart rate matters too",
		"--endpoint", "primary:sbp-3m:Systolic pressure at 3 months", "--endpoint", "secondary:hr-3m:Heart rate at 3 months")

	signIn := func(id string) (*portalClient, string) {
		t.Helper()
		cl := newPortalClient(t, "http://"+c.addr)
		_, page := cl.get("/portal/signin")
		_, page = cl.post("/portal/signin", url.Values{"principal": {id}, "passphrase": {testPassphrase}}, csrfOf(page))
		return cl, csrfOf(page)
	}
	board, csrf := signIn("hosp/admin")
	resp, page := board.get("/portal/studies/review")
	for _, want := range []string{"Study amendments", "Amendment 2 of bp-1", "Heart rate matters too", "adds secondary endpoint hr-3m", "Laboratory (lab)"} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("the board's page (HTTP %d) lacks %q:\n%s", resp.StatusCode, want, page)
		}
	}
	if resp, page := board.post("/portal/studies/decide", url.Values{"study": {"bp-1"}, "version": {"3"}, "decision": {"approve"}, "reason": {"ok"}}, csrf); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(page, "Not done:") || !strings.Contains(page, "study bp-1 has no pending amendment 3") {
		t.Fatalf("a decision on a version not pending: HTTP %d\n%s", resp.StatusCode, page)
	}
	resp, page = board.post("/portal/studies/decide", url.Values{"study": {"bp-1"}, "version": {"2"}, "decision": {"reject"}, "reason": {"no safety rationale"}}, csrf)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Rejected amendment 2 of study bp-1.") || !strings.Contains(page, "rejected by hosp/admin") {
		t.Fatalf("the rejection: HTTP %d\n%s", resp.StatusCode, page)
	}
	if resp, page := board.get("/portal/studies/sponsor"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your organization sponsors no study yet.") {
		t.Errorf("the board's admin's sponsor page (any organization may sponsor one): HTTP %d\n%s", resp.StatusCode, page)
	}

	sponsor, _ := signIn("lab/admin")
	resp, page = sponsor.get("/portal/studies/sponsor")
	for _, want := range []string{"Blood pressure study (bp-1)", "Hospital (hosp)", "version 1", "rejected: no safety rationale", "Heart rate matters too"} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("the sponsor's page (HTTP %d) lacks %q:\n%s", resp.StatusCode, want, page)
		}
	}
	if resp, _ := sponsor.get("/portal/studies/review"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the sponsor's admin's review page: HTTP %d", resp.StatusCode)
	}
}
