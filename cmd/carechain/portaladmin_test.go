package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/demo"
)

// TestPortalAdminInChromium drives the organization admin's and the
// auditor's pages of a real demo node in headless Chromium: St Mary's
// admin signs in and sees its staff and the node's status; registers a
// practitioner whose key the node makes (an enrolment code shown once),
// who then signs in with it; enrols a patient, who signs in with the
// pseudonym and code; revokes the practitioner's key. Each change is read
// back through the CLI (identity show). A practitioner, a patient and a
// signed-out visitor are refused the admin pages. The auditor page, signed
// out, checks the CLI's proof of the practitioner's registration green
// against the validator set the CLI wrote, red once a byte of it changed,
// and red against another validator set, with the node's checkpoint. Every
// page is checked by axe-core and saved as a screenshot.
func TestPortalAdminInChromium(t *testing.T) {
	p, home, addr := demoForBrowser(t)
	b := newBrowser(t, "http://"+addr)
	show := func(id string, signed bool) carechain.Principal {
		t.Helper()
		args := []string{"identity", "show", id, "--node", addr}
		if signed { // patients are shown only to signed requests
			args = append(args, "--as", "st-mary/admin", "--home", home)
		}
		var at struct{ Principal carechain.Principal }
		out := mustRun(t, passEnv(demo.Passphrase), args...)
		if err := json.Unmarshal([]byte(out), &at); err != nil || at.Principal.ID != id {
			t.Fatalf("identity show %s: %v\n%s", id, err, out)
		}
		return at.Principal
	}

	b.signIn("st-mary/admin")
	b.want("Staff of St Mary's Hospital", "st-mary/dr-chen", "Dr. Mei Chen", "physician", "registration-clerk", "active", "st-mary/node")
	b.screenshot("admin-staff")

	// A practitioner with a key the node makes.
	b.do("fill the practitioner form", chromedp.SendKeys(chromedp.ID("staff-id"), "dr-jones"), chromedp.SendKeys(chromedp.ID("staff-name"), "Dr. Sam Jones"),
		chromedp.Click(chromedp.CSS(`input[name=role][value=physician]`)), chromedp.Click(chromedp.CSS(`input[name=role][value=nurse]`)))
	b.submit("#add-staff")
	b.want("st-mary/dr-jones is registered on the ledger", "Enrolment code", "shown only now")
	doctorCode := b.textOf("enrolment-code")
	b.screenshot("admin-practitioner-registered")
	jones := show("st-mary/dr-jones", false)
	if jones.Status != carechain.StatusActive || jones.RegisteredBy != "st-mary/admin" || len(jones.Roles) != 2 || jones.Name != "Dr. Sam Jones" {
		t.Fatalf("the practitioner the portal registered, through the CLI: %+v", jones)
	}

	// A patient with an enrolment code.
	b.open("/portal/admin")
	b.submit("#enrol")
	b.want("is registered on the ledger", "Pseudonym", "Enrolment code")
	pseudonym, patientCode := b.textOf("enrolled-id"), b.textOf("enrolment-code")
	b.screenshot("admin-patient-enrolled")
	if pt := show(carechain.PatientPrefix+pseudonym, true); pt.Kind != carechain.KindPatient || pt.Org != "st-mary" || len(pt.EncryptionKey) == 0 {
		t.Fatalf("the patient the portal enrolled, through the CLI: %+v", pt)
	}
	b.open("/portal/admin/policies")
	b.want("Role policy", "registration-clerk", "demographics", "Approval policies", "imaging", "DiagnosticReport")
	b.screenshot("admin-policies")
	b.open("/portal/admin/node")
	b.want("Chain", "carechain-demo", "Validators", "st-mary/node", "Total voting power", "Last signed checkpoint", "Access events not yet anchored", "Peers")
	if cp := b.textOf("checkpoint"); !strings.HasPrefix(cp, "height ") || !strings.Contains(cp, "UTC") {
		t.Fatalf("last checkpoint: %q", cp)
	}
	b.screenshot("admin-node")
	b.signOut()

	// The new identities sign in with their codes.
	b.signInWith(pseudonym, patientCode)
	b.want("My records")
	b.signOut()
	b.signInWith("st-mary/dr-jones", doctorCode)
	b.want("Patients")
	b.signOut()

	// The admin revokes the practitioner's key.
	b.signIn("st-mary/admin")
	b.submit(`form[action="/portal/admin/revoke"]:has(input[value="st-mary/dr-jones"]) button`)
	b.want("The key is revoked")
	if pr := show("st-mary/dr-jones", false); pr.Status != carechain.StatusRevoked {
		t.Fatalf("after the portal's revocation, the CLI shows %s", pr.Status)
	}
	b.signOut()

	// Others are refused the admin pages.
	for _, who := range []string{"st-mary/dr-chen", "patient/demo-09"} {
		b.signIn(who)
		for _, path := range []string{"/portal/admin", "/portal/admin/node", "/portal/admin/policies"} {
			if resp := b.open(path); resp.Status != http.StatusForbidden {
				t.Fatalf("%s opened %s: HTTP %d", who, path, resp.Status)
			}
			b.want("This page is for admins")
		}
		b.signOut()
	}
	b.open("/portal/admin")
	b.want("Passphrase") // signed out: sent to sign in

	auditProof(t, b, addr, home, jones.RegisteredAt)
	if b.axe != "" {
		t.Logf("axe-core found no serious or critical violation on %d pages", b.checked)
	}
	noPlaintext(t, home, p.output(), doctorCode, patientCode)
}

// auditProof checks, on the auditor's page, the CLI's proof of the
// registration of st-mary/dr-jones at height.
func auditProof(t *testing.T, b *browser, addr, home string, height int64) {
	t.Helper()
	dir := t.TempDir()
	vals, file, tampered := filepath.Join(dir, "validators.json"), filepath.Join(dir, "jones.proof.json"), filepath.Join(dir, "tampered.proof.json")
	mustRun(t, nil, "validators", "--node", addr, "-o", vals)
	mustRun(t, nil, "proof", "identity", fmt.Sprintf("st-mary/dr-jones@%d", height), "--node", addr, "-o", file)
	writeTampered(t, file, tampered)
	set, err := os.ReadFile(vals)
	if err != nil {
		t.Fatal(err)
	}
	other := fmt.Sprintf(`{"validators":[{"pub_key":{"type":"tendermint/PubKeyEd25519","value":%q},"voting_power":"10"}]}`,
		base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x07", 32))))
	for _, c := range []struct {
		name, file, set, bundle, checkpoint string
	}{
		{"audit-verified", file, string(set), "ok: ✓ Verified: the identity entry st-mary/dr-jones@", "ok: ✓ Verified: the node's checkpoint"},
		{"audit-tampered", tampered, string(set), "bad: ✗ Not verified: the content does not match its leaf", "ok: ✓ Verified"},
		{"audit-other-set", file, other, "bad: ✗ Not verified: the checkpoint is not signed by more than two thirds", "bad: ✗ Not verified: the checkpoint is not signed"},
	} {
		b.open("/portal/audit")
		b.do("fill the audit form", chromedp.SetUploadFiles(chromedp.ID("bundle"), []string{c.file}), chromedp.SetValue(chromedp.ID("validators"), c.set))
		b.do("check", chromedp.Click(chromedp.ID("check")))
		got, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(() => {
			const a = document.getElementById("bundle-result"), c = document.getElementById("checkpoint-result");
			const done = (e) => e.classList.contains("ok") || e.classList.contains("bad");
			return done(a) && done(c) && [a, c].map((e) => e.className.replace("mark ", "") + ": " + e.textContent).join("\n");
		})()`))
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, b.text())
		}
		lines := strings.Split(got, "\n")
		if !strings.HasPrefix(lines[0], c.bundle) || !strings.HasPrefix(lines[1], c.checkpoint) {
			t.Fatalf("%s: the auditor page shows\n%s\nwant %q and %q", c.name, got, c.bundle, c.checkpoint)
		}
		b.screenshot(c.name)
	}
}

// writeTampered writes the proof in file with one byte of its content
// changed to out.
func writeTampered(t *testing.T, file, out string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var bundle map[string]any
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatal(err)
	}
	content, err := base64.StdEncoding.DecodeString(bundle["content"].(string))
	if err != nil || len(content) < 11 {
		t.Fatalf("proof content: %v", err)
	}
	content[10] ^= 1
	bundle["content"] = base64.StdEncoding.EncodeToString(content)
	changed, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, changed, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInWith signs in as id with passphrase pass.
func (b *browser) signInWith(id, pass string) {
	b.t.Helper()
	b.open("/portal/signin")
	b.do("fill the sign-in form", chromedp.SendKeys(chromedp.ID("principal"), id), chromedp.SendKeys(chromedp.ID("passphrase"), pass))
	b.submit("#signin")
	b.want("Sign out")
}

// textOf is the text of the element with the given ID.
func (b *browser) textOf(id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById(`+strconv.Quote(id)+`).textContent`))
	if err != nil {
		b.t.Fatalf("text of #%s: %v\n%s", id, err, b.text())
	}
	return strings.TrimSpace(s)
}

// TestPortalAdminOnInitConsortium runs the admin pages on a consortium
// made with init, whose admin's key is under the node's passphrase, over
// plain HTTP: the admin signs in and enrols a patient, who signs in with
// the code; a malformed public key, a taken identity and a revocation the
// ledger refuses (an admin revoking a patient's key) each change nothing
// and say why; a form without its CSRF token is refused; the node status
// and the auditor's checkpoint are served; a credential is issued and
// revoked on the Credentials page; the patient is refused the admin pages.
func TestPortalAdminOnInitConsortium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	nodeEnv := passEnv(testPassphrase)
	mustRun(t, nodeEnv, "init", "--home", home, "--chain-id", "portal-admin", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	p := startProcess(t, nodeEnv, "start", "--home", home, "--anchor-every", "100ms")
	waitHealthy(t, p, addr, time.Minute)
	mustRun(t, nodeEnv, "keys", "new", "hosp.dr-a", "--home", home)
	pub := strings.TrimSpace(mustRun(t, nil, "keys", "export-public", "hosp.dr-a", "--home", home))
	mustRun(t, nodeEnv, "tx", "register", "--as", "hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--pubkey", pub, "--home", home)

	base := "http://" + addr
	admin := newPortalClient(t, base)
	_, page := admin.get("/portal/signin")
	resp, page := admin.post("/portal/signin", url.Values{"principal": {"hosp/admin"}, "passphrase": {testPassphrase}}, csrfOf(page))
	if resp.Request.URL.Path != "/portal/admin" || !strings.Contains(page, "Staff of Hospital") || !strings.Contains(page, "hosp/dr-a") {
		t.Fatalf("the admin's sign-in ends at %s:\n%s", resp.Request.URL, page)
	}
	csrf := csrfOf(page)
	if resp, page := admin.post("/portal/admin/enrol", nil, ""); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "security token") {
		t.Fatalf("an enrolment without the CSRF token: HTTP %d", resp.StatusCode)
	}
	resp, page = admin.post("/portal/admin/enrol", nil, csrf)
	pseudonym, code := between(page, `id="enrolled-id">`, "<"), between(page, `id="enrolment-code">`, "<")
	if resp.StatusCode != http.StatusOK || pseudonym == "" || len(code) != 23 {
		t.Fatalf("enrolment: HTTP %d\n%s", resp.StatusCode, page)
	}
	patient := carechain.PatientPrefix + pseudonym
	signedShow := []string{"identity", "show", patient, "--as", "hosp/admin", "--home", home}
	if out := mustRun(t, nodeEnv, signedShow...); !strings.Contains(out, `"status": "active"`) || !strings.Contains(out, `"registered_by": "hosp/admin"`) {
		t.Fatalf("the enrolled patient through the CLI:\n%s", out)
	}
	for _, c := range []struct {
		path string
		form url.Values
		code int
		want string
	}{
		{"/portal/admin/staff", url.Values{"id": {"dr-b"}, "name": {"Dr. B"}, "role": {"physician"}, "pubkey": {"not a key"}}, http.StatusBadRequest, "public key is not 32 bytes"},
		{"/portal/admin/staff", url.Values{"id": {"dr-a"}, "name": {"Dr. A"}, "role": {"physician"}}, http.StatusConflict, "hosp/dr-a already exists"},
		{"/portal/admin/staff", url.Values{"id": {"dr-c"}, "name": {"Dr. C"}, "role": {"surgeon-general"}}, http.StatusBadRequest, "known roles"},
		{"/portal/admin/revoke", url.Values{"id": {patient}}, http.StatusForbidden, "The ledger refused it, nothing was revoked"},
	} {
		if resp, page := admin.post(c.path, c.form, csrf); resp.StatusCode != c.code || !strings.Contains(page, c.want) {
			t.Fatalf("POST %s %v: HTTP %d, want %d and %q:\n%s", c.path, c.form, resp.StatusCode, c.code, c.want, page)
		}
	}
	if out := mustRun(t, nil, "identity", "list", "--org", "hosp", "--home", home); strings.Contains(out, "dr-b") || strings.Contains(out, "dr-c") {
		t.Fatalf("a refused registration reached the ledger:\n%s", out)
	}
	if out := mustRun(t, nodeEnv, signedShow...); !strings.Contains(out, `"status": "active"`) {
		t.Fatalf("a refused revocation reached the ledger:\n%s", out)
	}
	if _, page := admin.get("/portal/admin/node"); !strings.Contains(page, "portal-admin") || !strings.Contains(page, "Total voting power") || !strings.Contains(page, "height ") {
		t.Fatalf("node status:\n%s", page)
	}
	// The policies: the role policy replaced (a misspelt field refused
	// first), an approval policy set (a malformed signer refused first).
	if _, page := admin.get("/portal/admin/policies"); !strings.Contains(page, "&#34;break_glass&#34;") || !strings.Contains(page, "Set an approval policy") {
		t.Fatalf("the policies page has no forms with the policy in force:\n%s", page)
	}
	policyPosts := []struct {
		path string
		form url.Values
		code int
		want string
	}{
		{"/portal/admin/policies/role", url.Values{"policy": {`{"rules":[{"role":"physician","raed":["lab"],"purposes":["treatment"]}]}`}}, http.StatusBadRequest, "unknown field"},
		{"/portal/admin/policies/role", url.Values{"policy": {`{"rules":[{"role":"physician","read":["lab","demographics"],"write":["lab"],"purposes":["treatment"]}],"break_glass":["physician"]}`}},
			http.StatusOK, "The new role policy is on the ledger"},
		{"/portal/admin/policies/approval", url.Values{"category": {"imaging"}, "resource_type": {"DiagnosticReport"}, "rule": {"all-of"}, "signers": {"author\nboss"}}, http.StatusBadRequest, "want role@org"},
		{"/portal/admin/policies/approval", url.Values{"category": {"imaging"}, "resource_type": {"DiagnosticReport"}, "rule": {"all-of"}, "signers": {"author\npatient"}},
			http.StatusOK, "The approval policy is on the ledger"},
	}
	for _, c := range policyPosts {
		if resp, page := admin.post(c.path, c.form, csrf); resp.StatusCode != c.code || !strings.Contains(page, c.want) {
			t.Fatalf("POST %s: HTTP %d, want %d and %q:\n%s", c.path, resp.StatusCode, c.code, c.want, page)
		}
	}
	// Roles: hosp/dr-a becomes a specialist and a physician; a patient has no roles.
	for _, c := range []struct {
		form url.Values
		code int
		want string
	}{
		{url.Values{"id": {patient}, "new_role": {"physician"}}, http.StatusForbidden, "only practitioners have roles"},
		{url.Values{"id": {"hosp/dr-a"}, "new_role": {"surgeon-general"}}, http.StatusBadRequest, "unknown or repeated role"},
		{url.Values{"id": {"hosp/dr-a"}, "new_role": {"specialist", "physician"}}, http.StatusOK, "The new roles are on the ledger"},
	} {
		if resp, page := admin.post("/portal/admin/roles", c.form, csrf); resp.StatusCode != c.code || !strings.Contains(page, c.want) {
			t.Fatalf("POST /portal/admin/roles %v: HTTP %d, want %d and %q:\n%s", c.form, resp.StatusCode, c.code, c.want, page)
		}
	}
	if out := mustRun(t, nil, "identity", "show", "hosp/dr-a", "--home", home); !strings.Contains(out, `"specialist"`) {
		t.Fatalf("the roles set in the portal, through the CLI:\n%s", out)
	}
	if out := mustRun(t, nodeEnv, "tx", "roles", "--as", "hosp/admin", "--id", "hosp/dr-a", "--role", "physician", "--home", home); !strings.Contains(out, "committed identity.roles") {
		t.Fatalf("tx roles: %s", out)
	}
	if out := mustRun(t, nil, "role-policy", "show", "hosp", "--home", home); !strings.Contains(out, `"version": 2`) || strings.Contains(out, "nurse") {
		t.Fatalf("the role policy set in the portal, through the CLI:\n%s", out)
	}
	if _, page := admin.get("/portal/admin/policies"); !strings.Contains(page, "DiagnosticReport") || !strings.Contains(page, "all-of (2 needed)") {
		t.Fatalf("the approval policy set in the portal:\n%s", page)
	}
	// Credentials: the hospital's admin issues one (a malformed value
	// refused first), then revokes it; the CLI reads both.
	for _, c := range []struct {
		path string
		form url.Values
		code int
		want string
	}{
		{"/portal/credentials/issue", url.Values{"id": {"lic-1"}, "practitioner": {"hosp/dr-a"}, "kind": {"licence"}, "value": {""}}, http.StatusUnprocessableEntity, "Not done: invalid transaction body: credential value"},
		{"/portal/credentials/issue", url.Values{"id": {"lic-1"}, "practitioner": {"hosp/dr-a"}, "kind": {"licence"}, "value": {"GMC-7731"}, "until": {"2031-01-31"}},
			http.StatusOK, "Issued credential lic-1 (licence GMC-7731) to hosp/dr-a."},
	} {
		if resp, page := admin.post(c.path, c.form, csrf); resp.StatusCode != c.code || !strings.Contains(page, c.want) {
			t.Fatalf("POST %s %v: HTTP %d, want %d and %q:\n%s", c.path, c.form, resp.StatusCode, c.code, c.want, page)
		}
	}
	if out := mustRun(t, nil, "credential", "show", "lic-1", "--home", home); !strings.Contains(out, "GMC-7731") || !strings.Contains(out, "active") {
		t.Fatalf("the credential issued in the portal, through the CLI:\n%s", out)
	}
	if resp, page := admin.post("/portal/credentials/revoke", url.Values{"id": {"lic-1"}, "reason": {"licence lapsed"}}, csrf); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Revoked credential lic-1") {
		t.Fatalf("revoke in the portal: HTTP %d\n%s", resp.StatusCode, page)
	}
	if out := mustRun(t, nil, "credential", "show", "lic-1", "--home", home); !strings.Contains(out, "revoked") || !strings.Contains(out, "licence lapsed") {
		t.Fatalf("the credential revoked in the portal, through the CLI:\n%s", out)
	}
	resp, page = admin.get("/portal/audit/checkpoint")
	var cp struct {
		ChainID      string          `json:"chain_id"`
		SignedHeader json.RawMessage `json:"signed_header"`
	}
	if err := json.Unmarshal([]byte(page), &cp); err != nil || resp.StatusCode != http.StatusOK || cp.ChainID != "portal-admin" || len(cp.SignedHeader) == 0 {
		t.Fatalf("the auditor's checkpoint: HTTP %d, %v\n%s", resp.StatusCode, err, page)
	}

	pt := newPortalClient(t, base)
	_, page = pt.get("/portal/signin")
	if resp, page := pt.post("/portal/signin", url.Values{"principal": {pseudonym}, "passphrase": {code}}, csrfOf(page)); resp.Request.URL.Path != "/portal/records" {
		t.Fatalf("the enrolled patient's sign-in ends at %s:\n%s", resp.Request.URL, page)
	}
	if resp, _ := pt.get("/portal/admin"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a patient opened the admin page: HTTP %d", resp.StatusCode)
	}
	// The credentialing office's and the supply chain's pages: a patient
	// is refused them, and a credential it posts is not issued; a visitor
	// who is not signed in is sent to sign in; a form without its CSRF
	// token is refused.
	for _, path := range []string{"/portal/credentials", "/portal/supply/stock", "/portal/supply/products"} {
		if resp, _ := pt.get(path); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a patient opened %s: HTTP %d", path, resp.StatusCode)
		}
	}
	_, page = pt.get("/portal/records")
	if resp, _ := pt.post("/portal/credentials/issue", url.Values{"id": {"lic-2"}, "practitioner": {"hosp/dr-a"}, "kind": {"licence"}, "value": {"X-1"}}, csrfOf(page)); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a patient's credential issue: HTTP %d", resp.StatusCode)
	}
	if out, err := run(t, nil, "credential", "show", "lic-2", "--home", home); err == nil {
		t.Fatalf("a credential a patient posted is on the ledger:\n%s", out)
	}
	if resp, _ := newPortalClient(t, base).get("/portal/credentials"); resp.Request.URL.Path != "/portal/signin" {
		t.Fatalf("a visitor's credentials page ends at %s", resp.Request.URL)
	}
	if resp, page := admin.post("/portal/credentials/revoke", url.Values{"id": {"lic-1"}, "reason": {"x"}}, ""); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "security token") {
		t.Fatalf("a revoke without the CSRF token: HTTP %d", resp.StatusCode)
	}
	noPlaintext(t, home, p.output(), code)
	p.interrupt(t)
}

// between is the text of s after start up to end, or "".
func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(after, end)
	return text
}
