package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/nodeapi"
)

// member is one organization's node in TestConsortiumFromScratch: its own
// home (made only by init), keys and passphrase, and its running process.
type member struct {
	*consortium
	p2p  string
	proc *process
}

func newMember(t *testing.T, name, passphrase string) *member {
	return &member{consortium: &consortium{t: t, home: filepath.Join(t.TempDir(), name), addr: freeAddr(t), env: passEnv(passphrase)}, p2p: freeAddr(t)}
}

func (m *member) start() {
	m.t.Helper()
	m.proc = startProcess(m.t, m.env, "start", "--home", m.home)
	m.t.Cleanup(func() { m.proc.interrupt(m.t) })
}

// waitRecords waits until the node serves its records API: caught up, and
// its node principal registered in its state.
func (m *member) waitRecords(limit time.Duration) {
	m.t.Helper()
	waitHealthy(m.t, m.proc, m.addr, limit)
	m.proc.waitFor(m.t, limit, "the records API", func() error {
		resp, err := http.Get("http://" + m.addr + "/fhir/metadata")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errStatus(resp.StatusCode)
		}
		return nil
	})
}

type errStatus int

func (e errStatus) Error() string { return http.StatusText(int(e)) }

func (m *member) status() nodeapi.Status {
	m.t.Helper()
	st, err := nodeapi.NewClient(m.addr).Status(context.Background())
	if err != nil {
		m.t.Fatal(err)
	}
	return st
}

// join makes m's home as a joining organization's (init --join) and
// returns its application's path.
func (m *member) join(founder *member, founderID, org string, power string) string {
	m.t.Helper()
	out := mustRun(m.t, m.env, "init", "--home", m.home, "--join", founderID+"@"+founder.p2p,
		"--genesis", filepath.Join(founder.home, "config", "genesis.json"), "--org", org,
		"--p2p-addr", m.p2p, "--http-addr", m.addr, "--validator-power", power)
	app := filepath.Join(m.home, "application.json")
	if !strings.Contains(out, "gov propose") {
		m.t.Fatalf("init --join prints how to propose the application: %s", out)
	}
	if _, err := os.Stat(app); err != nil {
		m.t.Fatal(err)
	}
	return app
}

// proposalIn finds the proposal ID gov propose printed.
func proposalIn(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`proposal (gov-[0-9a-f]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no proposal in: %s", out)
	}
	return m[1]
}

// foundThree is the first part of the README's "A consortium from
// scratch": St Mary's (a hospital) founds the consortium on its own node,
// North Lab and East Pharmacy join by vote, each on its own node with only
// its own keys. trusted is the validator set at the founding (a file).
func foundThree(t *testing.T) (stMary, northlab, eastpharm *member, trusted string) {
	t.Helper()
	stMary, northlab, eastpharm = newMember(t, "h1", "st-mary's passphrase"), newMember(t, "h2", "northlab's passphrase"), newMember(t, "h3", "eastpharm's passphrase")

	// St Mary's founds the consortium.
	out := mustRun(t, stMary.env, "init", "--home", stMary.home, "--chain-id", "acme-health", "--org", "st-mary:hospital:St Mary's Hospital",
		"--p2p-addr", stMary.p2p, "--http-addr", stMary.addr)
	founderID := nodeIDIn(t, out)
	stMary.start()
	stMary.waitRecords(time.Minute)
	trusted = filepath.Join(t.TempDir(), "validators.json") // the set at the founding
	stMary.cli("validators", "-o", trusted)

	// North Lab joins, validating: St Mary's, the only member, carries it.
	app := northlab.join(stMary, founderID, "northlab:lab:North Lab", "10")
	northlab.start()
	if out := stMary.cli("gov", "propose", "--as", "st-mary/admin", "--join", app); !strings.Contains(out, "carried out") {
		t.Fatalf("the only member's proposal carries: %s", out)
	}
	northlab.waitRecords(2 * time.Minute)

	// East Pharmacy joins: one member proposes, the other approves.
	app = eastpharm.join(stMary, founderID, "eastpharm:pharmacy:East Pharmacy", "5")
	eastpharm.start()
	out = stMary.cli("gov", "propose", "--as", "st-mary/admin", "--join", app)
	if !strings.Contains(out, "is open: 1 of 2") {
		t.Fatalf("a proposal needs both members: %s", out)
	}
	id := proposalIn(t, out)
	if out := northlab.cli("gov", "approve", id, "--as", "northlab/admin"); !strings.Contains(out, "carried out") {
		t.Fatalf("the second approval carries it: %s", out)
	}
	eastpharm.waitRecords(2 * time.Minute)
	if out := eastpharm.cli("gov", "show"); !strings.Contains(out, id) || !strings.Contains(out, "eastpharm, northlab, st-mary") {
		t.Fatalf("gov show on the joined node: %s", out)
	}
	return stMary, northlab, eastpharm, trusted
}

// TestConsortiumFromScratch is the README's "A consortium from scratch":
// three organizations on three nodes, each with only its own keys, grow a
// consortium by vote and use it; the app hashes of all nodes agree.
func TestConsortiumFromScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three node subprocesses")
	}
	stMary, northlab, eastpharm, trusted := foundThree(t)

	// Staff, each registered by its own organization's admin on its own node.
	stMary.cli("keys", "new", "st-mary.dr-jones")
	stMary.register("st-mary/admin", "--id", "st-mary/dr-jones", "--role", "physician", "--pubkey", stMary.pub("st-mary.dr-jones"))
	northlab.cli("keys", "new", "northlab.dr-patel")
	northlab.register("northlab/admin", "--id", "northlab/dr-patel", "--role", "physician", "--pubkey", northlab.pub("northlab.dr-patel"))
	eastpharm.cli("keys", "new", "eastpharm.pharm-lee")
	eastpharm.register("eastpharm/admin", "--id", "eastpharm/pharm-lee", "--role", "pharmacist", "--pubkey", eastpharm.pub("eastpharm.pharm-lee"))

	// A patient with keys on their own device, registered at St Mary's.
	device, penv := filepath.Join(t.TempDir(), "patient-keys"), passEnv("the patient's own")
	patient := func(args ...string) string {
		t.Helper()
		return mustRun(t, penv, append(args, "--as", "patient/p1", "--keys-dir", device, "--node", stMary.addr)...)
	}
	mustRun(t, penv, "keys", "new", "patient.p1", "--kind", "patient", "--keys-dir", device)
	sign := strings.TrimSpace(mustRun(t, penv, "keys", "export-public", "patient.p1", "--keys-dir", device))
	enc := strings.TrimSpace(mustRun(t, penv, "keys", "export-public", "patient.p1", "--encryption", "--keys-dir", device))
	stMary.register("st-mary/admin", "--kind", "patient", "--id", "patient/p1", "--pubkey", sign, "--encryption-key", enc)

	// The physician prescribes; the patient grants the pharmacy; it reads.
	status, body := stMary.fhir(stMary.token("st-mary/dr-jones"), "POST", "/fhir/MedicationRequest", prescription("p1", "197361"))
	rx := createdID(t, status, body)
	pharmacist := func(args ...string) (string, error) {
		return run(t, eastpharm.env, append([]string{"record", "get", rx, "--as", "eastpharm/pharm-lee", "--home", eastpharm.home}, args...)...)
	}
	if out, err := pharmacist(); err == nil {
		t.Fatalf("the pharmacy reads before the patient's grant: %s", out)
	}
	patient("consent", "grant", "--to", "eastpharm", "--category", "medication", "--purpose", "treatment", "--until", "90d")
	if out, err := pharmacist(); err != nil || !strings.Contains(out, "197361") {
		t.Fatalf("the granted pharmacy reads through its own node: %v %s", err, out)
	}

	// North Lab's physician searches across patients on North Lab's own
	// node: the patient is found by MRN only once they grant North Lab from
	// their device. The grant is a transaction North Lab's node did not
	// make; its search index follows the chain.
	mrn := `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:st-mary:mrn","value":"SM-0042"}],"name":[{"family":"Abara"}],"birthDate":"1975-03-09"}`
	if status, body := stMary.fhir(stMary.token("st-mary/dr-jones"), "PUT", "/fhir/Patient/p1", mrn); status != 201 {
		t.Fatalf("put Patient/p1: %d %s", status, body)
	}
	patel := northlab.token("northlab/dr-patel")
	foundP1 := regexp.MustCompile(`"id":\s*"p1"`)
	byMRN := func() error {
		status, body := northlab.fhir(patel, "GET", "/fhir/Patient?identifier=urn:st-mary:mrn|SM-0042", "")
		if status != 200 || !foundP1.Match(body) {
			return fmt.Errorf("%d %s", status, body)
		}
		return nil
	}
	if byMRN() == nil {
		t.Fatal("North Lab finds the patient before their grant")
	}
	patient("consent", "grant", "--to", "northlab", "--category", "demographics", "--purpose", "treatment", "--until", "30d")
	northlab.proc.waitFor(t, time.Minute, "North Lab to find the patient by MRN", byMRN)

	// A correction under an approval policy: the author and the patient sign.
	stMary.cli("amend", "policy", "--as", "st-mary/admin", "--org", "st-mary", "--category", "medication", "--term", "author", "--term", "patient")
	corrected := filepath.Join(t.TempDir(), "corrected.json")
	writeFile(t, corrected, prescription("p1", "197362"))
	out := stMary.cli("amend", "propose", rx, "--file", corrected, "--as", "st-mary/dr-jones", "--reason", "wrong strength")
	proposal := regexp.MustCompile(`proposed (\S+)`).FindStringSubmatch(out)
	if proposal == nil {
		t.Fatalf("amend propose: %s", out)
	}
	stMary.cli("amend", "approve", proposal[1], "--as", "st-mary/dr-jones")
	patient("amend", "approve", proposal[1])
	if out, err := pharmacist(); err != nil || !strings.Contains(out, "197362") {
		t.Fatalf("the pharmacy reads the approved version: %v %s", err, out)
	}

	// Break the glass at North Lab under the patient's rule.
	patient("emergency", "set", "--role", "physician", "--duration", "2h", "--require-reason")
	if out, err := run(t, northlab.env, "record", "get", rx, "--as", "northlab/dr-patel", "--home", northlab.home,
		"--patient", "patient/p1", "--break-glass", "collapsed in the lab"); err != nil || !strings.Contains(out, "197362") {
		t.Fatalf("break-glass read at North Lab: %v %s", err, out)
	}

	// The patient's access log names both readers.
	stMary.proc.waitFor(t, time.Minute, "both reads in the access log", func() error {
		log := patient("audit", "list", "--patient", "patient/p1")
		for _, want := range []string{"eastpharm/pharm-lee", "northlab/dr-patel", "EMERGENCY", "eastpharm/node0", "northlab/node0"} { // the nodes that served them too
			if !strings.Contains(log, want) {
				return fmt.Errorf("no %s in:\n%s", want, log)
			}
		}
		return nil
	})

	// St Mary's validator gets more power, by vote.
	out = stMary.cli("gov", "propose", "--as", "st-mary/admin", "--validator-home", stMary.home, "--validator-node", "st-mary/node0", "--validator-power", "20")
	northlab.cli("gov", "approve", proposalIn(t, out), "--as", "northlab/admin")

	// The members remove East Pharmacy: it does not vote on it.
	out = stMary.cli("gov", "propose", "--as", "st-mary/admin", "--remove", "eastpharm")
	if !strings.Contains(out, "1 of 2 approvals from northlab, st-mary") {
		t.Fatalf("removal needs both other members: %s", out)
	}
	if out, err := run(t, eastpharm.env, "gov", "approve", proposalIn(t, out), "--as", "eastpharm/admin", "--home", eastpharm.home); err == nil || !strings.Contains(out, "does not vote") {
		t.Fatalf("the organization removed approves its removal: %v %s", err, out)
	}
	if out := northlab.cli("gov", "approve", proposalIn(t, out), "--as", "northlab/admin"); !strings.Contains(out, "carried out") {
		t.Fatalf("removal approved: %s", out)
	}
	removedAt := stMary.status().Height
	if out := stMary.cli("identity", "orgs"); !regexp.MustCompile(`eastpharm\s+pharmacy\s+East Pharmacy\s+removed at \d+`).MatchString(out) {
		t.Fatalf("identity orgs after the removal: %s", out)
	}
	if out := stMary.cli("identity", "show", "eastpharm/pharm-lee"); !strings.Contains(out, "revoked") {
		t.Fatalf("the pharmacist's key after the removal: %s", out)
	}

	// A prescription written afterwards is sealed under new keys the
	// pharmacy never gets; the old ones it had stay as they were.
	status, body = stMary.fhir(stMary.token("st-mary/dr-jones"), "POST", "/fhir/MedicationRequest", prescription("p1", "310965"))
	createdID(t, status, body)
	wraps := epochWraps(t, stMary.addr, device, penv, "patient/p1", "medication")
	if len(wraps) < 2 || !wraps[0]["eastpharm"] || wraps[len(wraps)-1]["eastpharm"] || !wraps[len(wraps)-1]["st-mary"] {
		t.Fatalf("epochs of the patient's medication records and their readers: %v", wraps)
	}

	// Its node is refused as a peer once its validator is out of the set
	// (two blocks on): it stays behind while the others go on.
	token := stMary.token("st-mary/dr-jones")
	stMary.proc.waitFor(t, time.Minute, "the removed node disconnected", func() error {
		stMary.fhir(token, "POST", "/fhir/MedicationRequest", prescription("p1", "310965"))
		if !strings.Contains(stMary.proc.output(), "peer disconnected") {
			return errors.New("no peer disconnected")
		}
		return nil
	})
	stuck := eastpharm.status().Height
	for i := 0; i < 3; i++ {
		stMary.fhir(token, "POST", "/fhir/MedicationRequest", prescription("p1", "310965"))
	}
	if now := eastpharm.status().Height; now != stuck || stMary.status().Height <= stuck {
		t.Fatalf("the removed node follows the chain: at %d (was %d), St Mary's at %d", now, stuck, stMary.status().Height)
	}
	if stuck < removedAt {
		t.Fatalf("the removed node stopped at %d, before its removal at %d", stuck, removedAt)
	}
	if out := stMary.cli("validators", "--history"); !strings.Contains(out, "left") || !strings.Contains(out, "-> 20") {
		t.Fatalf("validator history: %s", out)
	}
	sameAppHashes(t, stMary, northlab, eastpharm)
	sameAppHashes(t, stMary, northlab)

	// The patient proves the prescription against the founding validator
	// set, through every change since: two joins, a power change, a removal.
	proofFile := filepath.Join(t.TempDir(), "rx.proof.json")
	patient("proof", "record", rx, "-o", proofFile)
	if out := mustRun(t, nil, "verify-proof", proofFile, "--validators", trusted); !strings.Contains(out, "verified") || !strings.Contains(out, "4 validator-set changes") {
		t.Fatalf("verify-proof from the founding set: %s", out)
	}
}

// epochWraps reads, as the patient (keys in device), which readers each
// epoch of the patient's category is wrapped to, oldest first.
func epochWraps(t *testing.T, addr, device string, env []string, patient, category string) []map[string]bool {
	t.Helper()
	ks, err := keystore.Open(device, keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Unlock(strings.ReplaceAll(patient, "/", "."), []byte(strings.TrimPrefix(env[0], PassphraseEnv+"=")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl := nodeapi.NewClient(addr).As(patient, key)
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := nodeapi.NewState(ctx, cl)
	var epochs []map[string]bool
	prefix := "wrap/" + patient + "/" + category + "/"
	last := ""
	err = state.Scan(prefix, st.Height, func(k string, _ []byte) error {
		epoch, reader, _ := strings.Cut(strings.TrimPrefix(k, prefix), "/")
		if epoch != last {
			epochs = append(epochs, map[string]bool{})
			last = epoch
		}
		epochs[len(epochs)-1][reader] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return epochs
}

// prescription is a MedicationRequest for patient of an RxNorm code.
func prescription(patient, rxnorm string) string {
	return `{"resourceType":"MedicationRequest","status":"active","intent":"order",
 "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"` + rxnorm + `"}]},
 "subject":{"reference":"Patient/` + patient + `"}}`
}

// createdID is the ID of a resource a FHIR create answered with.
func createdID(t *testing.T, status int, body []byte) string {
	t.Helper()
	m := regexp.MustCompile(`"id"\s*:\s*"([^"]+)"`).FindSubmatch(body)
	if status != http.StatusCreated || m == nil {
		t.Fatalf("create: HTTP %d %s", status, body)
	}
	return string(m[1])
}

// sameAppHashes checks that every node has the same app hash at the lowest
// height they all reached.
func sameAppHashes(t *testing.T, ms ...*member) {
	t.Helper()
	ctx := context.Background()
	low := int64(-1)
	for _, m := range ms {
		if h := m.status().Height; low < 0 || h < low {
			low = h
		}
	}
	var want string
	for i, m := range ms {
		c, err := nodeapi.NewClient(m.addr).Commit(ctx, low)
		if err != nil {
			t.Fatalf("commit %d on %s: %v", low, m.home, err)
		}
		if i == 0 {
			want = c.AppHash
		} else if c.AppHash != want {
			t.Fatalf("app hash at height %d: %s on %s, %s on %s", low, want, ms[0].home, c.AppHash, m.home)
		}
	}
}
