package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// TestSupplyChainAcrossNodes is issue 22's acceptance on real nodes, each
// made by init with only its own organization's keys: Acme Pharma (a
// manufacturer) founds the consortium; Distri (a wholesaler), Corner
// Pharmacy and Rival (a competing wholesaler) join, each on its own node.
// Acme registers a product and commissions units on its node and ships
// them to Distri, which receives and ships them on its node to the
// pharmacy, which verifies and receives them on its node and dispenses one
// to a patient through FHIR (a MedicationDispense naming the unit, by a
// pharmacist under the patient's consent); the patient's read says the
// medicine was verified genuine. At the pharmacy an unknown serial, a
// genuine serial offered by a second seller, an expired unit and a
// recalled lot are each refused with their reason, and a FHIR dispense of
// the recalled unit is refused with an OperationOutcome. A verification
// bundle made at the pharmacy's node checks offline against the founding
// validator set and fails after byte changes. Rival's node holds none of
// the partners' serials in its data directory and answers Rival nothing
// of them (verify, state, commitments, EPCIS events and export).
func TestSupplyChainAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four node subprocesses")
	}
	skipUnderRace(t)
	started := time.Now()
	acme, dist, pharm, rival, vals := foundSupplyChain(t)
	t.Logf("four nodes founded and joined in %v", time.Since(started).Round(time.Millisecond))
	chainStarted := time.Now()

	// sup is a supply command as an organization's admin on m's node: its
	// words (two for "product …"), then the flags.
	sup := func(m *member, args ...string) []string {
		n := 1
		if args[0] == "product" {
			n = 2
		}
		org := strings.SplitN(strings.TrimPrefix(filepath.Base(m.home), "supply-"), "-", 2)[0]
		cmd := append([]string{"supply"}, args[:n]...)
		return append(append(cmd, "--as", org+"/admin", "--home", m.home, "--node", m.addr), args[n:]...)
	}
	do := func(m *member, args ...string) string {
		t.Helper()
		return mustRun(t, m.env, sup(m, args...)...)
	}
	refused := func(m *member, want string, args ...string) {
		t.Helper()
		out, err := run(t, m.env, sup(m, args...)...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("carechain %s: err=%v, want a refusal containing %q:\n%s", strings.Join(sup(m, args...), " "), err, want, out)
		}
	}
	sn := func(n string) string { return "ZQ8K" + n } // distinctive, to scan for
	list := filepath.Join(t.TempDir(), "serials.txt")
	writeFile(t, list, sn("0001")+"\n"+sn("0002")+"\n"+sn("0003")+"\n")

	// Acme registers and commissions on its own node.
	do(acme, "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--form", "capsule", "--strength", "500 mg", "--kind", "drug", "--private=false")
	if out := do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L1", "--expiry", "2030-12-31", "--serials", list); !strings.Contains(out, "commissioned 3 units") {
		t.Fatalf("commission: %s", out)
	}
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "OLD", "--expiry", "2025-01-31", "--serial", sn("0100"))
	do(acme, "commission", "--gtin", supplyGTIN, "--lot", "L2", "--expiry", "2030-12-31", "--serial", sn("0200"))
	refused(acme, "already commissioned", "commission", "--gtin", supplyGTIN, "--lot", "L3", "--expiry", "2030-12-31", "--serial", sn("0002"))
	do(acme, "ship", "--gtin", supplyGTIN, "--to", "dist", "--serials", list, "--serial", sn("0200"))

	// Distri receives on its node (its first shipment of the product
	// brought it the product's key) and ships to the pharmacy.
	caughtUp(t, dist, acme)
	do(dist, "receive", "--gtin", supplyGTIN, "--serials", list, "--serial", sn("0200"))
	do(dist, "ship", "--gtin", supplyGTIN, "--to", "pharm", "--serial", sn("0001"), "--serial", sn("0002"), "--serial", sn("0200"))

	// The pharmacy verifies on its node and receives.
	caughtUp(t, pharm, dist)
	verify := func(serial, seller string, extra ...string) []string {
		return append([]string{"verify", "--gtin", supplyGTIN, "--serial", serial, "--seller", seller}, extra...)
	}
	out := do(pharm, verify(sn("0001"), "dist", "--lot", "L1", "--expiry", "301231")...)
	for _, want := range []string{"GENUINE", "Amoxicillin 500 mg (GTIN " + supplyGTIN + ") by acme", "status:    in-transit", "custodian: dist"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the pharmacy's verify of a genuine unit lacks %q:\n%s", want, out)
		}
	}
	do(pharm, "receive", "--gtin", supplyGTIN, "--serial", sn("0001"), "--serial", sn("0002"), "--serial", sn("0200"))

	// The pharmacist dispenses one unit to a patient through FHIR.
	pharmacist, patient := dispenseSetup(t, pharm)
	fhir := func(token, method, path, body string, status int) (map[string]any, string) {
		t.Helper()
		got, res, raw := pharm.fhirJSON(token, method, path, body)
		if got != status {
			t.Fatalf("%s %s on the pharmacy's node: HTTP %d, want %d: %s", method, path, got, status, raw)
		}
		return res, raw
	}
	res, _ := fhir(pharmacist, "POST", "/fhir/MedicationDispense", unitDispense(sn("0001")), http.StatusCreated)
	_, raw := fhir(patient, "GET", "/fhir/MedicationDispense/"+res["id"].(string), "", http.StatusOK)
	if v := supplyVerified(t, raw); v["verified"] != true || v["gtin"] != supplyGTIN ||
		!strings.Contains(fmt.Sprint(v["summary"]), "Verified genuine: the 1 serialized unit(s) of Amoxicillin 500 mg") {
		t.Fatalf("the patient's read of the dispense: %s", raw)
	}
	refused(pharm, "already dispensed", verify(sn("0001"), "pharm")...)
	// Each organization's EPCIS export, from its own node, holds its own
	// events: the pharmacy's the dispense made through FHIR too.
	for _, tc := range []struct {
		m    *member
		want string
	}{{acme, "commission commission commission ship"}, {dist, "receive ship"}, {pharm, "receive dispense"}} {
		doc := filepath.Join(t.TempDir(), "events.json")
		do(tc.m, "export", "--out", doc)
		evs, err := supply.ParseEPCIS(mustReadFile(t, doc))
		if err != nil || actions(evs) != tc.want {
			t.Fatalf("the export of %s: %v %+v", tc.m.home, err, evs)
		}
	}

	// Refused at the pharmacy, each with its reason.
	for _, tc := range []struct{ name, serial, seller, want string }{
		{"an unknown serial", sn("9999"), "dist", "never commissioned by acme"},
		{"a genuine serial offered by a second seller", sn("0002"), "rival", "held by pharm, not by the seller rival"},
		{"a genuine serial offered by a second seller", sn("0003"), "rival", "held by dist, not by the seller rival"},
		{"an expired unit", sn("0100"), "acme", "expired on 2025-01-31"},
	} {
		refused(pharm, tc.want, verify(tc.serial, tc.seller)...)
		refused(pharm, "DO NOT ACCEPT", verify(tc.serial, tc.seller)...)
		t.Logf("%s: refused (%s)", tc.name, tc.want)
	}
	do(acme, "recall", "--gtin", supplyGTIN, "--lot", "L2", "--reason", "sterility failure")
	caughtUp(t, pharm, acme)
	refused(pharm, "lot L2 is recalled (sterility failure)", verify(sn("0200"), "pharm")...)
	res, raw = fhir(pharmacist, "POST", "/fhir/MedicationDispense", unitDispense(sn("0200")), http.StatusUnprocessableEntity)
	if res["resourceType"] != "OperationOutcome" || !strings.Contains(raw, "lot L2 is recalled (sterility failure)") || !strings.Contains(raw, "DO NOT DISPENSE") {
		t.Fatalf("the dispense of a recalled unit: %s", raw)
	}

	// A bundle made at the pharmacy's node checks offline, and fails
	// changed.
	dir := t.TempDir()
	bundle := filepath.Join(dir, "sn2.json")
	if out := do(pharm, verify(sn("0002"), "pharm", "--bundle", bundle)...); !strings.Contains(out, "wrote the proof of this answer") {
		t.Fatalf("verify --bundle: %s", out)
	}
	check := []string{"supply", "check-bundle", bundle, "--validators", vals, "--gtin", supplyGTIN, "--seller", "pharm"}
	if out := mustRun(t, nil, check...); !strings.Contains(out, "GENUINE") || !strings.Contains(out, "checked offline: the checkpoint at height") {
		t.Fatalf("check-bundle: %s", out)
	}
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI refuses a bundle whose checkpoint names another state hash.
	at := bytes.Index(data, []byte(`"state_hash": "`)) + len(`"state_hash": "`)
	if at < len(`"state_hash": "`) {
		t.Fatalf("no state hash in the bundle:\n%s", data)
	}
	changed := bytes.Clone(data)
	changed[at] = map[bool]byte{true: 'B', false: 'A'}[changed[at] == 'A']
	tampered := filepath.Join(dir, "tampered.json")
	writeFile(t, tampered, string(changed))
	check[2] = tampered
	if out, err := run(t, nil, check...); err == nil || !strings.Contains(out, "does not verify") {
		t.Fatalf("check-bundle of a changed bundle: err=%v\n%s", err, out)
	}
	tamperSomeBytes(t, data, vals, 97)
	t.Logf("the supply chain across the nodes took %v", time.Since(chainStarted).Round(time.Millisecond))

	// The competitor's node: no key, no serial, no event of the partners.
	caughtUp(t, rival, pharm)
	refused(rival, "rival holds no key of product", verify(sn("0003"), "dist")...)
	rivalDoc := filepath.Join(dir, "rival-events.json")
	do(rival, "export", "--out", rivalDoc)
	if evs, err := supply.ParseEPCIS(mustReadFile(t, rivalDoc)); err != nil || len(evs) != 0 {
		t.Fatalf("rival's export: %v %+v", err, evs)
	}
	seen := rivalNodeAnswers(t, rival) + string(mustReadFile(t, rivalDoc))
	serials := []string{sn("0001"), sn("0002"), sn("0003"), sn("0100"), sn("0200"), sn("9999")}
	for _, s := range serials {
		if strings.Contains(seen, s) {
			t.Errorf("serial %s is in an answer of rival's node to rival", s)
		}
	}
	for _, m := range []*member{rival, acme, dist, pharm} {
		m.proc.interrupt(t)
		noPlaintext(t, m.home, m.proc.output(), inPlainOrBase64(serials)...)
	}
}

// foundSupplyChain makes the four nodes: Acme founds the consortium (its
// node the only validator), Distri, Corner Pharmacy and Rival each join
// with a node of their own by the members' votes. vals is the validator
// set (a file).
func foundSupplyChain(t *testing.T) (acme, dist, pharm, rival *member, vals string) {
	t.Helper()
	acme = newMember(t, "supply-acme", "acme's passphrase")
	out := mustRun(t, acme.env, "init", "--home", acme.home, "--chain-id", "supply-nodes", "--org", "acme:manufacturer:Acme Pharma",
		"--p2p-addr", acme.p2p, "--http-addr", acme.addr)
	founderID := nodeIDIn(t, out)
	acme.start()
	acme.waitRecords(time.Minute)
	vals = filepath.Join(t.TempDir(), "validators.json")
	acme.cli("validators", "-o", vals)
	members := []*member{acme}
	join := func(name, org string) *member {
		m := newMember(t, "supply-"+name, name+"'s passphrase")
		app := m.join(acme, founderID, org, "0")
		m.start()
		out := acme.cli("gov", "propose", "--as", "acme/admin", "--join", app)
		for _, o := range members[1:] {
			if strings.Contains(out, "carried out") {
				break
			}
			caughtUp(t, o, acme)
			admin := strings.TrimPrefix(filepath.Base(o.home), "supply-") + "/admin"
			out = o.cli("gov", "approve", proposalIn(t, out), "--as", admin)
		}
		if !strings.Contains(out, "carried out") {
			t.Fatalf("the join of %s is not carried out: %s", name, out)
		}
		m.waitRecords(2 * time.Minute)
		members = append(members, m)
		return m
	}
	dist = join("dist", "dist:wholesaler:Distri")
	pharm = join("pharm", "pharm:pharmacy:Corner Pharmacy")
	rival = join("rival", "rival:wholesaler:Rival")
	return acme, dist, pharm, rival, vals
}

// caughtUp waits until m's node has the blocks ref's node has committed.
func caughtUp(t *testing.T, m, ref *member) {
	t.Helper()
	want := ref.status().Height
	m.proc.waitFor(t, time.Minute, fmt.Sprintf("%s at height %d", m.home, want), func() error {
		if h := m.status().Height; h < want {
			return fmt.Errorf("at height %d", h)
		}
		return nil
	})
}

// dispenseSetup registers a pharmacist at the pharmacy and a patient whose
// keys its node holds, who signs in and lets the pharmacy read and write
// their medication records; it returns both bearer tokens.
func dispenseSetup(t *testing.T, pharm *member) (pharmacist, patient string) {
	t.Helper()
	pharm.cli("keys", "new", "pharm.pharm-lee")
	pharm.register("pharm/admin", "--id", "pharm/pharm-lee", "--role", "pharmacist", "--pubkey", pharm.pub("pharm.pharm-lee"))
	const pass = "the patient's own passphrase"
	penv := passEnv(pass)
	mustRun(t, penv, "keys", "new", "patient.p1", "--kind", "patient", "--home", pharm.home)
	pub := func(extra ...string) string {
		return strings.TrimSpace(mustRun(t, penv, append([]string{"keys", "export-public", "patient.p1", "--home", pharm.home}, extra...)...))
	}
	pharm.register("pharm/admin", "--kind", "patient", "--id", "patient/p1", "--pubkey", pub(), "--encryption-key", pub("--encryption"))
	status, patient := pharm.login("patient/p1", pass)
	if status != http.StatusOK {
		t.Fatalf("the patient signs in: HTTP %d", status)
	}
	if got, _, raw := pharm.fhirJSON(patient, "POST", "/fhir/Consent", `{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p1"},
	  "provision":{"actor":[{"reference":{"reference":"Organization/pharm"}}],"action":[{"coding":[{"code":"access"}]},{"coding":[{"code":"correct"}]}],
	    "purpose":[{"code":"treatment"}],"class":[{"system":"urn:carechain:category","code":"medication"}]}}`); got != http.StatusCreated {
		t.Fatalf("the patient's consent: HTTP %d %s", got, raw)
	}
	return pharm.token("pharm/pharm-lee"), patient
}

// unitDispense is a completed MedicationDispense of patient/p1 handing over
// one serialized unit of supplyGTIN.
func unitDispense(serial string) string {
	return `{"resourceType":"MedicationDispense","status":"completed","subject":{"reference":"Patient/p1"},
	  "extension":[{"url":"urn:carechain:dispensed-unit","valueIdentifier":{"system":"urn:gs1:gtin:` + supplyGTIN + `","value":"` + serial + `"}}],
	  "medicationCodeableConcept":{"text":"Amoxicillin 500 mg"},"quantity":{"value":1,"unit":"box"}}`
}

// supplyVerified is the urn:carechain:supply-verified extension of a
// served MedicationDispense: its sub-extensions' values by url (nil if none).
func supplyVerified(t *testing.T, raw string) map[string]any {
	t.Helper()
	var d struct {
		Extension []struct {
			URL       string           `json:"url"`
			Extension []map[string]any `json:"extension"`
		} `json:"extension"`
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	for _, e := range d.Extension {
		if e.URL != "urn:carechain:supply-verified" {
			continue
		}
		out := map[string]any{}
		for _, sub := range e.Extension {
			for k, v := range sub {
				if k != "url" {
					out[fmt.Sprint(sub["url"])] = v
				}
			}
		}
		return out
	}
	return nil
}

// tamperSomeBytes changes every stride-th byte of a bundle (and its last)
// and requires the offline check to fail for each.
func tamperSomeBytes(t *testing.T, data []byte, vals string, stride int) {
	t.Helper()
	trusted, err := proof.ParseValidators(mustReadFile(t, vals))
	if err != nil {
		t.Fatal(err)
	}
	scan := supply.Scan{GTIN: supplyGTIN, Seller: "pharm"}
	var b proof.SupplyBundle
	if err := proof.Decode(data, &b); err != nil {
		t.Fatal(err)
	}
	if _, err := proof.CheckSupply(&b, scan, "", trusted, time.Now()); err != nil {
		t.Fatalf("the bundle unchanged does not check: %v", err)
	}
	changed := 0
	for i := 0; i < len(data); i += stride {
		for _, at := range []int{i, len(data) - 1 - i} {
			c := bytes.Clone(data)
			c[at] ^= 1
			var tb proof.SupplyBundle
			if proof.Decode(c, &tb) != nil {
				continue
			}
			if _, err := proof.CheckSupply(&tb, scan, "", trusted, time.Now()); err == nil {
				t.Fatalf("changing byte %d (in %q) still checks", at, c[max(0, at-30):min(len(c), at+30)])
			}
			changed++
		}
	}
	t.Logf("the bundle (%d bytes): %d changed bytes decoded, each fails the check", len(data), changed)
}

// rivalNodeAnswers is what Rival's node answers Rival's admin: the
// supply state, a product, the commitments of a partner's serial, and
// EPCIS events.
func rivalNodeAnswers(t *testing.T, rival *member) string {
	t.Helper()
	cl := rivalClient(t, rival.home, rival.addr, strings.TrimPrefix(rival.env[0], PassphraseEnv+"="))
	seen := supplyAnswers(t, cl, "ZQ8K0003", "/v1/supply/epcis/events", "/v1/supply/epcis/events?MATCH_epc="+supply.UnitURI(supplyGTIN, "ZQ8K0002"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	doc, err := cl.SupplyEvents(ctx, supply.EventQuery{})
	if err != nil || doc.EPCISBody.QueryResults == nil || len(doc.EPCISBody.QueryResults.ResultsBody.EventList) != 0 {
		t.Fatalf("rival's EPCIS query: %v %+v", err, doc)
	}
	return seen
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
