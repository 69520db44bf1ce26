package records_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// TestResourceSizeLimits: a resource just under carechain.MaxResourceBytes
// passes every layer (validation, sealing, the transaction limit, CometBFT's
// mempool) and commits; one byte over it is refused as too large before
// anything is submitted, and changes nothing.
func TestResourceSizeLimits(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	author := w.signers["hosp-a/dr-a"]
	canonical, err := fhirjson.Canonical(observation(""))
	if err != nil {
		t.Fatal(err)
	}
	base := len(canonical) // the limit is on the canonical form
	fits := observation(strings.Repeat("a", carechain.MaxResourceBytes-base-64))
	res, err := w.svc[0].Put(ctx, author, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-big", Resource: fits})
	if err != nil {
		t.Fatalf("a %d-byte resource (limit %d) was refused: %v", len(fits), carechain.MaxResourceBytes, err)
	}
	if res.Version != 1 || res.Height == 0 {
		t.Fatalf("put = %+v", res)
	}

	before, _ := w.nodes[0].App().LastCommit()
	over := observation(strings.Repeat("a", carechain.MaxResourceBytes-base+1))
	_, err = w.svc[0].Put(ctx, author, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-too-big", Resource: over})
	if k := carechain.KindOf(err); k != carechain.KindTooLarge {
		t.Fatalf("a %d-byte resource: kind %v (%v), want too_large", len(over), k, err)
	}
	after, _ := w.nodes[0].App().LastCommit()
	if !bytes.Equal(before.AppHash, after.AppHash) {
		t.Fatal("a refused resource changed the state") // empty blocks keep the app hash
	}
	if _, err := w.nodes[0].App().Latest().Record("rec-too-big"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("the refused record exists: %v", err)
	}
}
