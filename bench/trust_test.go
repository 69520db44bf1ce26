//go:build notrust

package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/trust"
	"github.com/carechain/carechain/tx"
)

// trustWorld is one node of TestBypassSkipsTrustOnItsNodeOnly: a physician
// and a patient registered, a token only one record holds.
type trustWorld struct {
	bn      *recordsNode
	dr      records.Signer
	patient string
}

func newTrustWorld(t *testing.T, ctx context.Context, bypass trust.Bypass) *trustWorld {
	t.Helper()
	bn, err := startBypassNode(ctx, "carechain-trust-test", bypass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bn.Close)
	dr, reg := practitioner("bench/dr", carechain.RolePhysician)
	pek, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, preg := patient("patient/p", pek.Public().Bytes())
	if err := bn.register(ctx, reg, preg); err != nil {
		t.Fatal(err)
	}
	return &trustWorld{bn: bn, dr: dr, patient: "patient/p"}
}

// writeAndRead writes an Observation holding token and reads it back as its
// author.
func (w *trustWorld) writeAndRead(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	obs := fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"text":"%s"},"subject":{"reference":"Patient/p"}}`, token)
	if _, err := w.bn.svc.Put(ctx, w.dr, records.PutItem{Patient: w.patient, Category: "lab", RecordID: "o-1", Resource: obs}); err != nil {
		t.Fatal(err)
	}
	rec, err := w.bn.svc.Read(ctx, w.dr.ID, "o-1", 0, consent.PurposeTreatment)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rec.Resource, []byte(token)) {
		t.Fatalf("read back %s, want the token %s", rec.Resource, token)
	}
}

// onDisk reports whether any file under the node's home holds b.
func (w *trustWorld) onDisk(t *testing.T, b []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(w.bn.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(data, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// admitsUnsigned submits a registration whose signature is zeros
// (tx.SignUnder with trust off) and returns the ledger's code for it.
func (w *trustWorld) admitsUnsigned(t *testing.T, ctx context.Context, off trust.Bypass) ledger.Code {
	t.Helper()
	_, reg := practitioner("bench/unsigned", carechain.RolePhysician)
	w.bn.nonce++
	raw, err := tx.SignUnder(off, w.bn.admin.Key, w.bn.chainID, w.bn.admin.ID, w.bn.nonce, tx.TypeRegister, reg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.bn.node.Submit(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	return out.Code
}

// TestBypassSkipsTrustOnItsNodeOnly: in one process (a notrust build), a
// node under a switched-off bypass stores the resource it is given as
// plaintext on disk, leaves no access event for a read and admits a
// transaction whose signature is zeros; a node running beside it, started
// without the bypass, keeps the resource off its disk (encrypted), queues the read's
// access event and refuses the same transaction as bad_signature.
func TestBypassSkipsTrustOnItsNodeOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	off, err := trust.Switched()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		bypass    trust.Bypass
		plaintext bool
		events    bool
		code      ledger.Code
		w         *trustWorld
	}{
		{name: "trust on", bypass: trust.Bypass{}, events: true, code: ledger.CodeBadSignature},
		{name: "trust off", bypass: off, plaintext: true, code: ledger.CodeOK},
	}
	for i := range cases { // both nodes run at once: the switch is the node's
		cases[i].w = newTrustWorld(t, ctx, cases[i].bypass)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := c.w
			token := randomToken(t)
			w.writeAndRead(t, ctx, token)
			if got := w.onDisk(t, []byte(token)); got != c.plaintext {
				t.Errorf("resource in plaintext on disk: %v, want %v", got, c.plaintext)
			}
			if got := w.bn.svc.Pending() > 0; got != c.events {
				t.Errorf("access events pending after a read: %v, want %v", got, c.events)
			}
			if got := w.admitsUnsigned(t, ctx, off); got != c.code {
				t.Errorf("a transaction signed with zeros: code %v, want %v", got, c.code)
			}
		})
	}
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "trust-token-" + hex.EncodeToString(b)
}

// TestTrustMeasuresBothPaths: Trust at a tiny size times the create and
// read phases on a node with trust on and one with it off, and gives the
// four rows with a measure and a baseline above zero. No figure is
// checked against a time.
func TestTrustMeasuresBothPaths(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Trust(ctx, TrustOptions{Patients: 2, PerPatient: 2, Authors: 2, Creates: 8, CreateClients: 2, Reads: 8, ReadClients: 1})
	if err != nil {
		t.Fatal(err)
	}
	rows := rep.Rows()
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.Measured <= 0 || r.Baseline <= 0 || r.BaselineName != trustBaseline {
			t.Errorf("row %+v: want a measure and a baseline (trust off) above zero", r)
		}
	}
}
