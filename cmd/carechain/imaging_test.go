package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWithPeer starts m's node fetching blobs from peer's (--blob-peer).
func (m *member) startWithPeer(peer *member) {
	m.t.Helper()
	m.proc = startProcess(m.t, m.env, "start", "--home", m.home, "--blob-peer", "http://"+peer.addr)
	m.t.Cleanup(func() { m.proc.interrupt(m.t) })
}

// foundTwo is foundThree's first part with each node naming the other as
// its blob peer: St Mary's founds the consortium, North Lab joins.
func foundTwo(t *testing.T) (stMary, northlab *member) {
	t.Helper()
	stMary, northlab = newMember(t, "h1", "st-mary's passphrase"), newMember(t, "h2", "northlab's passphrase")
	out := mustRun(t, stMary.env, "init", "--home", stMary.home, "--chain-id", "acme-health", "--org", "st-mary:hospital:St Mary's Hospital",
		"--p2p-addr", stMary.p2p, "--http-addr", stMary.addr)
	founderID := nodeIDIn(t, out)
	stMary.startWithPeer(northlab)
	stMary.waitRecords(time.Minute)
	app := northlab.join(stMary, founderID, "northlab:lab:North Lab", "10")
	northlab.startWithPeer(stMary)
	if out := stMary.cli("gov", "propose", "--as", "st-mary/admin", "--join", app); !strings.Contains(out, "carried out") {
		t.Fatalf("the only member's proposal carries: %s", out)
	}
	northlab.waitRecords(2 * time.Minute)
	return stMary, northlab
}

// storedBlobs are the blob files in a node home's blob store.
func storedBlobs(t *testing.T, home string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(home, "blobs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if name := filepath.Base(f); len(name) == 64 {
			if _, err := hex.DecodeString(name); err == nil {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestImagesReplicateBetweenNodes: a radiologist at St Mary's uploads an
// image (FHIR Binary) on St Mary's node; North Lab's physician, granted the
// patient's imaging, reads it on North Lab's node, which holds a checked
// copy; the copy altered on North Lab's disk is refused, then fetched
// again; with St Mary's node stopped, North Lab's still serves it.
func TestImagesReplicateBetweenNodes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("runs two node subprocesses")
	}
	stMary, northlab := foundTwo(t)
	stMary.cli("keys", "new", "st-mary.dr-jones")
	stMary.register("st-mary/admin", "--id", "st-mary/dr-jones", "--role", "physician", "--pubkey", stMary.pub("st-mary.dr-jones"))
	northlab.cli("keys", "new", "northlab.dr-patel")
	northlab.register("northlab/admin", "--id", "northlab/dr-patel", "--role", "physician", "--pubkey", northlab.pub("northlab.dr-patel"))
	device, penv := filepath.Join(t.TempDir(), "patient-keys"), passEnv("the patient's own")
	mustRun(t, penv, "keys", "new", "patient.p1", "--kind", "patient", "--keys-dir", device)
	sign := strings.TrimSpace(mustRun(t, penv, "keys", "export-public", "patient.p1", "--keys-dir", device))
	enc := strings.TrimSpace(mustRun(t, penv, "keys", "export-public", "patient.p1", "--encryption", "--keys-dir", device))
	stMary.register("st-mary/admin", "--kind", "patient", "--id", "patient/p1", "--pubkey", sign, "--encryption-key", enc)

	jones := stMary.token("st-mary/dr-jones")
	status, body := stMary.fhir(jones, "POST", "/fhir/ImagingStudy", `{"resourceType":"ImagingStudy","status":"available","subject":{"reference":"Patient/p1"}}`)
	study := createdID(t, status, body)
	image := make([]byte, 1<<20)
	rand.Read(image)
	status, body = stMary.fhir(jones, "POST", "/fhir/Binary", string(image), "Content-Type", "application/dicom", "X-Security-Context", "ImagingStudy/"+study)
	bin := createdID(t, status, body)

	patel := northlab.token("northlab/dr-patel")
	read := func() (int, []byte) {
		t.Helper()
		return northlab.fhir(patel, "GET", "/fhir/Binary/"+bin, "", "Accept", "application/dicom")
	}
	if status, _ := read(); status != http.StatusNotFound {
		t.Fatalf("North Lab reads before the patient's grant: %d", status)
	}
	mustRun(t, penv, "consent", "grant", "--to", "northlab", "--category", "imaging", "--purpose", "treatment", "--until", "30d",
		"--as", "patient/p1", "--keys-dir", device, "--node", stMary.addr)
	northlab.proc.waitFor(t, time.Minute, "North Lab's copy of the image", func() error {
		if status, got := read(); status != http.StatusOK || !bytes.Equal(got, image) {
			return errStatus(status)
		}
		return nil
	})
	copies := storedBlobs(t, northlab.home)
	if len(copies) != 1 {
		t.Fatalf("North Lab's blob store: %v", copies)
	}
	if stored, _ := os.ReadFile(copies[0]); bytes.Contains(stored, image[:64]) {
		t.Fatal("the stored copy holds plaintext")
	}

	altered, _ := os.ReadFile(copies[0])
	altered[100] ^= 0xff
	if err := os.WriteFile(copies[0], altered, 0o600); err != nil {
		t.Fatal(err)
	}
	if status, body := read(); status != http.StatusInternalServerError || !strings.Contains(string(body), "does not match the hash on the ledger") {
		t.Fatalf("an altered copy is refused: %d %.300s", status, body)
	}
	if status, got := read(); status != http.StatusOK || !bytes.Equal(got, image) {
		t.Fatalf("a good copy is fetched again: %d", status)
	}

	stMary.proc.interrupt(t)
	if status, got := read(); status != http.StatusOK || !bytes.Equal(got, image) {
		t.Fatalf("North Lab serves the image with St Mary's node stopped: %d %.300s", status, got)
	}
}
