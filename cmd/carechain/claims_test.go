package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// foundHospitalAndInsurer: St Mary's (a hospital) founds a consortium on
// its own node; Carewell (an insurer) joins by vote on its own node, with
// only its own keys, both made by init.
func foundHospitalAndInsurer(t *testing.T) (stMary, carewell *member) {
	t.Helper()
	stMary, carewell = newMember(t, "h1", "st-mary's passphrase"), newMember(t, "h2", "carewell's passphrase")
	out := mustRun(t, stMary.env, "init", "--home", stMary.home, "--chain-id", "claims-e2e", "--org", "st-mary:hospital:St Mary's Hospital",
		"--p2p-addr", stMary.p2p, "--http-addr", stMary.addr)
	founderID := nodeIDIn(t, out)
	stMary.start()
	stMary.waitRecords(time.Minute)
	app := carewell.join(stMary, founderID, "carewell:insurer:Carewell Health", "10")
	carewell.start()
	if out := stMary.cli("gov", "propose", "--as", "st-mary/admin", "--join", app); !strings.Contains(out, "carried out") {
		t.Fatalf("the only member's proposal carries: %s", out)
	}
	carewell.waitRecords(2 * time.Minute)
	return stMary, carewell
}

const (
	cptSystem   = "http://www.ama-assn.org/go/cpt"
	officeVisit = "99213" // covered up to 100.00 a unit (50.00 from rules version 2), 2 a claim
	headCT      = "70450" // covered up to 500.00, with a prior authorization
	acupuncture = "97810" // not covered
	// claimMarker is in the claim's and the coverage's content only: no
	// node may keep it in plain.
	claimMarker = "claims-e2e-marker-arthroscopy-7731"
)

// goldRules is plan gold's rules document with the office visit capped at
// officeCap (minor units).
// goldRules are plan gold's rules, the office visit capped at officeCap
// cents and perYear visits a year (0: no limit).
func goldRules(officeCap, perYear int) string {
	return fmt.Sprintf(`{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[
 {"system":%q,"code":%q,"maxUnitPrice":%d,"maxQuantity":2,"maxPerYear":%d},
 {"system":%q,"code":%q,"maxUnitPrice":50000,"priorAuth":true}],
 "conditions":[{"expr":"claim.items.all(i, i.quantity <= 10)","reason":"at most 10 units of one service per claim"}]}`,
		cptSystem, officeVisit, officeCap, perYear, cptSystem, headCT)
}

// submittedID is the claim ID claim submit printed.
func submittedID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`submitted (?:claim|preauthorization) (\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no claim ID in: %s", out)
	}
	return m[1]
}

// TestClaimsAcrossHospitalAndInsurer is issue 21's acceptance on two
// nodes made by init, driven through the CLI (FHIR where it has no verb):
// Carewell's admin publishes plan rules on Carewell's node; St Mary's desk
// records the patient's Coverage, checks eligibility, asks a prior
// authorization and, after the encounter, submits the claim; Carewell's
// node adjudicates each on its own; the patient reads what insurance pays
// and what they owe; St Mary's node re-runs the decision and agrees. A
// rules change applies from its height on: a claim submitted before it
// keeps version 1, one after gets version 2, whose limit of one office
// visit a year denies a second one (and the re-run agrees). No coverage, a code the rules
// do not cover, a missing prior authorization and a duplicate claim are
// refused with their reasons; the insurer's staff read the claim but not
// the patient's other records; neither node keeps claim content in plain.
func TestClaimsAcrossHospitalAndInsurer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two node subprocesses")
	}
	skipUnderRace(t)
	stMary, carewell := foundHospitalAndInsurer(t)
	staff := func(m *member, id, role string) {
		t.Helper()
		key := strings.Replace(id, "/", ".", 1)
		m.cli("keys", "new", key)
		m.register(strings.SplitN(id, "/", 2)[0]+"/admin", "--id", id, "--role", role, "--pubkey", m.pub(key))
	}
	staff(stMary, "st-mary/clerk-ali", "registration-clerk")
	staff(stMary, "st-mary/dr-jones", "physician")
	staff(carewell, "carewell/claims-bo", "claims-officer")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// cli runs a command on m's node and returns its output and error.
	cli := func(m *member, args ...string) result {
		out, err := run(t, m.env, append(args, "--home", m.home)...)
		return result{out, err}
	}
	// mustContain requires a command's success and what its output says.
	mustContain := func(res result, wants ...string) string {
		t.Helper()
		out, err := res.out, res.err
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Fatalf("no %q in: %s", w, out)
			}
		}
		return out
	}
	refused := func(res result, why string) {
		t.Helper()
		if res.err == nil || !strings.Contains(res.out, why) {
			t.Fatalf("want a refusal saying %q, got %v: %s", why, res.err, res.out)
		}
	}
	desk := func(args ...string) result {
		return cli(stMary, append(args, "--as", "st-mary/clerk-ali")...)
	}

	// Carewell's admin publishes plan gold on Carewell's node; nobody else may.
	mustContain(cli(carewell, "plan", "publish", "gold", "--as", "carewell/admin", "--file", file("gold-v1.json", goldRules(10000, 0))),
		"published plan carewell/gold version 1")
	refused(cli(stMary, "plan", "publish", "gold", "--as", "st-mary/admin", "--file", file("gold-v1.json", goldRules(10000, 0))), "insurer's admin")
	stMary.proc.waitFor(t, time.Minute, "plan gold on St Mary's node", func() error {
		if r := desk("plan", "show", "carewell/gold"); r.err != nil || !strings.Contains(r.out, "version 1") {
			return fmt.Errorf("%v: %s", r.err, r.out)
		}
		return nil
	})
	mustContain(desk("plan", "show", "carewell/gold"), "co-pay 10.00 a claim, co-insurance 20%", cptSystem+"|"+headCT, "needed")

	// A patient whose keys St Mary's node holds, under their own passphrase,
	// and their Coverage under plan gold (FHIR: the CLI has no verb for it).
	const pass = "the patient's own passphrase"
	penv := passEnv(pass)
	mustRun(t, penv, "keys", "new", "patient.p1", "--kind", "patient", "--home", stMary.home)
	pub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, penv, append([]string{"keys", "export-public", "patient.p1", "--home", stMary.home}, extra...)...))
	}
	stMary.register("st-mary/clerk-ali", "--kind", "patient", "--id", "patient/p1", "--pubkey", pub(), "--encryption-key", pub("--encryption"))
	deskToken, drToken := stMary.token("st-mary/clerk-ali"), stMary.token("st-mary/dr-jones")
	status, res, raw := stMary.fhirJSON(deskToken, "POST", "/fhir/Coverage", `{"resourceType":"Coverage","status":"active","subscriberId":"`+claimMarker+`",
	  "beneficiary":{"reference":"Patient/p1"},"payor":[{"reference":"Organization/carewell"}],
	  "class":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/coverage-class","code":"plan"}]},"value":"gold"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("coverage: HTTP %d %s", status, raw)
	}
	coverage := res["id"].(string)

	// Eligibility: the head CT is covered with a prior authorization, acupuncture is not.
	code := func(c string) string { return cptSystem + "|" + c }
	out := mustContain(desk("claim", "eligibility", "--patient", "patient/p1", "--coverage", coverage, "--code", code(headCT), "--code", code(acupuncture)),
		"insurer carewell, plan carewell/gold, rules version 1")
	if !regexp.MustCompile(code(headCT)+`\s+yes\s+needed\s+500.00 EUR`).MatchString(out) || !regexp.MustCompile(code(acupuncture)+`\s+no`).MatchString(out) {
		t.Fatalf("eligibility: %s", out)
	}

	// Refusals with their reasons, and nothing submitted.
	submit := func(args ...string) result {
		return desk(append([]string{"claim", "submit", "--patient", "patient/p1"}, args...)...)
	}
	refused(submit("--coverage", "no-such-coverage", "--item", code(officeVisit)+",1,80.00"), "no coverage")
	refused(submit("--coverage", coverage, "--item", code(acupuncture)+",1,80.00"), "is not covered by plan gold")
	refused(submit("--coverage", coverage, "--item", code(headCT)+",1,400.00"), "needs a prior authorization")

	// The prior authorization, decided by Carewell's node.
	pa := submittedID(t, mustContain(submit("--coverage", coverage, "--use", "preauthorization", "--item", code(headCT)+",1,400.00", "--date", "2026-12-01"),
		"submitted preauthorization"))
	mustContain(desk("claim", "status", pa, "--wait", "1m"), "preauthorization "+pa+" of Patient/p1: approved by carewell under rules carewell/gold|1")

	// The encounter, and the claim of its services (a FHIR Claim in a file).
	status, res, raw = stMary.fhirJSON(drToken, "POST", "/fhir/Encounter", `{"resourceType":"Encounter","status":"finished",
	  "class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"}}`)
	if status != http.StatusCreated {
		t.Fatalf("encounter: HTTP %d %s", status, raw)
	}
	encounter := res["id"].(string)
	claimFile := file("claim.json", fmt.Sprintf(`{"resourceType":"Claim","status":"active","use":"claim",
	 "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
	 "patient":{"reference":"Patient/p1"},"created":"2026-12-02","provider":{"reference":"Organization/st-mary"},
	 "priority":{"coding":[{"code":"normal"}]},"insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/%s"},"preAuthRef":[%q]}],
	 "item":[{"sequence":1,"productOrService":{"coding":[{"system":%q,"code":%q}],"text":%q},"servicedDate":"2026-12-02",
	   "encounter":[{"reference":"Encounter/%s"}],"quantity":{"value":1},"unitPrice":{"value":120.00,"currency":"EUR"}},
	  {"sequence":2,"productOrService":{"coding":[{"system":%q,"code":%q}]},"servicedDate":"2026-12-02",
	   "encounter":[{"reference":"Encounter/%s"}],"quantity":{"value":1},"unitPrice":{"value":400.00,"currency":"EUR"}}]}`,
		coverage, pa, cptSystem, officeVisit, claimMarker, encounter, cptSystem, headCT, encounter))
	c1 := submittedID(t, mustContain(desk("claim", "submit", "--file", claimFile), "submitted claim"))
	refused(desk("claim", "submit", "--file", claimFile), "duplicate claim")

	// A claim of the encounter's charge item, priced from St Mary's price
	// list, submitted before the rules change, which is published at once.
	fees := "https://st-mary.example/fees/office-visit"
	for _, body := range []string{`{"resourceType":"ChargeItemDefinition","url":"` + fees + `","status":"active",
	  "code":{"coding":[{"system":"` + cptSystem + `","code":"` + officeVisit + `"}]},
	  "propertyGroup":[{"priceComponent":[{"type":"base","amount":{"value":120,"currency":"EUR"}}]}]}`,
		`{"resourceType":"ChargeItem","status":"billable","code":{"coding":[{"system":"` + cptSystem + `","code":"` + officeVisit + `"}]},
	  "subject":{"reference":"Patient/p1"},"context":{"reference":"Encounter/` + encounter + `"},"definitionCanonical":["` + fees + `"]}`} {
		if status, _, raw := stMary.fhirJSON(deskToken, "POST", "/fhir/"+regexp.MustCompile(`"resourceType":"(\w+)"`).FindStringSubmatch(body)[1], body); status != http.StatusCreated {
			t.Fatalf("the price list and the charge: HTTP %d %s", status, raw)
		}
	}
	c2 := submittedID(t, mustContain(submit("--coverage", coverage, "--from-encounter", encounter, "--date", "2026-12-03"), "submitted claim"))
	mustContain(cli(carewell, "plan", "publish", "gold", "--as", "carewell/admin", "--file", file("gold-v2.json", goldRules(5000, 1))),
		"published plan carewell/gold version 2")

	// The patient reads the decision on c1: the office visit is eligible up to
	// 100.00, the CT at 400.00; the patient pays the 10.00 co-pay, 20% of the
	// remaining 490.00, and the 20.00 over the cap.
	patient := func(args ...string) result {
		out, err := run(t, penv, append(args, "--as", "patient/p1", "--home", stMary.home)...)
		return result{out, err}
	}
	mustContain(patient("claim", "status", c1, "--wait", "1m"), "claim "+c1+" of Patient/p1: approved by carewell under rules carewell/gold|1",
		"submitted 520.00 EUR, eligible 500.00 EUR", "insurance pays 392.00 EUR; the patient owes 128.00 EUR",
		"item 1 "+code(officeVisit)+": approved (submitted 120.00 EUR, eligible 100.00 EUR)")
	out = mustContain(patient("claim", "list"), c1, pa, c2)
	if !regexp.MustCompile(c1 + `\s+Patient/p1\s+claim\s+2026-12-02\s+approved\s+392.00 EUR\s+128.00 EUR`).MatchString(out) {
		t.Fatalf("the patient's claims: %s", out)
	}
	if status, _, raw := stMary.fhirJSON(mustLogin(t, stMary, "patient/p1", pass), "GET", "/fhir/ExplanationOfBenefit/"+c1, ""); status != http.StatusOK || !strings.Contains(raw, `"value": 128.00`) {
		t.Fatalf("the patient's ExplanationOfBenefit: HTTP %d %s", status, raw)
	}

	// St Mary's node re-runs Carewell's decision and agrees; so does Carewell's officer.
	mustContain(desk("claim", "verify", c1), "claim "+c1+": the re-run on this node agrees with the decision carewell/", "approved, insurance pays 392.00 EUR")
	mustContain(cli(carewell, "claim", "verify", c1, "--as", "carewell/claims-bo"), "agrees")

	// The rules change: c2, submitted before it, is decided under version 1
	// whenever Carewell's node got to it; c3, after it, under version 2.
	mustContain(desk("claim", "status", c2, "--wait", "1m"), "under rules carewell/gold|1", "eligible 100.00 EUR",
		"item 1 "+code(officeVisit)+": approved (submitted 120.00 EUR, eligible 100.00 EUR)")
	stMary.proc.waitFor(t, time.Minute, "plan gold version 2 on St Mary's node", func() error {
		if r := desk("plan", "show", "carewell/gold"); r.err != nil || !strings.Contains(r.out, "version 2") {
			return fmt.Errorf("%v: %s", r.err, r.out)
		}
		return nil
	})
	c3 := submittedID(t, mustContain(submit("--coverage", coverage, "--item", code(officeVisit)+",1,120.00", "--date", "2026-12-04"), "submitted claim"))
	mustContain(desk("claim", "status", c3, "--wait", "1m"), "under rules carewell/gold|2", "eligible 50.00 EUR")
	// Version 2 covers one office visit a year: c3 used it, c4 is denied
	// with the year's count (claims decided under version 1 count for none).
	c4 := submittedID(t, mustContain(submit("--coverage", coverage, "--item", code(officeVisit)+",1,120.00", "--date", "2026-12-05"), "submitted claim"))
	mustContain(desk("claim", "status", c4, "--wait", "1m"), "denied by carewell under rules carewell/gold|2",
		fmt.Sprintf("plan gold covers 1 a year, and 1 were used in %d", time.Now().UTC().Year()))
	for _, id := range []string{c1, c2, c3, c4} {
		mustContain(desk("claim", "verify", id), "agrees")
	}

	// Minimum necessary: Carewell's officer reads the claim on Carewell's
	// node, not the patient's encounter or coverage; a physician of St
	// Mary's, whose role does not read billing, does not see the claim.
	mustContain(cli(carewell, "claim", "status", c1, "--as", "carewell/claims-bo"), "approved")
	if r := cli(carewell, "record", "get", encounter, "--as", "carewell/claims-bo", "--purpose", "billing"); r.err == nil {
		t.Fatalf("the insurer read the encounter: %s", r.out)
	}
	if status, raw := carewell.fhir(carewell.token("carewell/claims-bo"), "GET", "/fhir/Coverage/"+coverage, "", "X-Purpose-Of-Use", "billing"); status == http.StatusOK {
		t.Fatalf("the insurer read the coverage without the patient's billing consent: %s", raw)
	}
	refused(cli(stMary, "claim", "status", c1, "--as", "st-mary/dr-jones"), "HTTP 404")

	// Neither node keeps the claim's or the coverage's content in plain.
	for _, m := range []*member{stMary, carewell} {
		m.proc.interrupt(t)
		noPlaintext(t, m.home, m.proc.output(), claimMarker)
	}
}

// result is what a command printed, and its error.
type result struct {
	out string
	err error
}

// mustLogin signs principal in at m's node with their passphrase and
// returns the access token.
func mustLogin(t *testing.T, m *member, principal, pass string) string {
	t.Helper()
	status, tok := m.login(principal, pass)
	if status != http.StatusOK {
		t.Fatalf("%s signs in: HTTP %d", principal, status)
	}
	return tok
}

// TestClaimCommandsRefuseBadInput: what the CLI can tell is wrong before
// it asks a node is refused with the reason and a non-zero exit (there is
// no node here: nothing is sent).
func TestClaimCommandsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(bad, []byte(`{"currency":"EUR","benefits":[{"system":"s","code":"c","maxUnitPrice":1}],"conditions":[{"expr":"claim.total +","reason":"r"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	node := []string{"--home", dir, "--node", "127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		why  string
	}{
		{[]string{"plan", "publish", "gold", "--as", "carewell/admin", "--file", bad}, "conditions[0]"},
		{[]string{"plan", "show", "gold", "--as", "carewell/admin"}, "want INSURER/PLAN"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--patient", "patient/p1", "--coverage", "c", "--item", "99213,1,80.00"}, "want SYSTEM|CODE,QUANTITY,UNIT-PRICE"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--patient", "patient/p1", "--coverage", "c", "--item", "s|c,0,80.00"}, "the quantity must be a whole number above 0"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--patient", "patient/p1", "--coverage", "c", "--item", "s|c,1,eighty"}, "the unit price must be a decimal"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--patient", "patient/p1", "--coverage", "c", "--item", "s|c,1,80", "--date", "12/01/2026"}, "want YYYY-MM-DD"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--patient", "patient/p1"}, "at least one --item"},
		{[]string{"claim", "submit", "--as", "st-mary/clerk", "--file", bad, "--patient", "patient/p1"}, "not both"},
		{[]string{"claim", "eligibility", "--as", "st-mary/clerk", "--patient", "patient/p1", "--coverage", "c", "--code", "99213"}, "want SYSTEM|CODE"},
		{[]string{"claim", "list", "--as", "st-mary/clerk"}, "--patient is required"},
		{[]string{"claim", "list", "--as", "patient/p1", "--keys-dir", dir}, "not built yet"},
	} {
		out, err := run(t, nil, append(tc.args, node...)...)
		if err == nil || !strings.Contains(out, tc.why) {
			t.Errorf("carechain %s: %v, want a refusal saying %q: %s", strings.Join(tc.args, " "), err, tc.why, out)
		}
	}
}
