package supply

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// TestCustodyKeysAreOnePerLabel: one secret and label always give the same
// key, another label or secret another one, and a short secret none.
func TestCustodyKeysAreOnePerLabel(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, 32)
	a, err := CustodyKey(secret, "shipment 1")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := CustodyKey(secret, "shipment 1")
	other, _ := CustodyKey(secret, "shipment 2")
	otherSecret, _ := CustodyKey(bytes.Repeat([]byte{8}, 32), "shipment 1")
	if !a.Equal(again) || a.Equal(other) || a.Equal(otherSecret) {
		t.Fatal("custody keys are not one per secret and label")
	}
	if _, err := CustodyKey(secret[:31], "shipment 1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a 31-byte secret: %v", err)
	}
}

func TestCustodySignerRoundTrip(t *testing.T) {
	k, _ := CustodyKey(bytes.Repeat([]byte{7}, 32), "x")
	pub := k.Public().(ed25519.PublicKey)
	id := CustodySigner(pub)
	if !IsCustodySigner(id) || len(id) != len(CustodyPrefix)+64 {
		t.Fatalf("signer %q", id)
	}
	if got, err := ParseCustodySigner(id); err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("parse %q: %x %v", id, got, err)
	}
	for _, bad := range []string{strings.ToUpper(id[len(CustodyPrefix):]), CustodyPrefix + strings.ToUpper(id[len(CustodyPrefix):]), id[:len(id)-2], id + "00", CustodyPrefix + strings.Repeat("zz", 32), "hosp-a/admin"} {
		if _, err := ParseCustodySigner(bad); err == nil {
			t.Errorf("ParseCustodySigner(%q) accepted", bad)
		}
	}
}

// TestDispenseDigestBindsEveryPart: changing the chain, the GTIN, a unit,
// the units' number or the dispenser changes the digest, and moving bytes
// between parts does too.
func TestDispenseDigestBindsEveryPart(t *testing.T) {
	u1, u2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	base := DispenseDigest("chain", "00312345678906", [][]byte{u1, u2}, "pharm/lee")
	for name, d := range map[string][]byte{
		"chain":     DispenseDigest("chain2", "00312345678906", [][]byte{u1, u2}, "pharm/lee"),
		"gtin":      DispenseDigest("chain", "00312345678913", [][]byte{u1, u2}, "pharm/lee"),
		"unit":      DispenseDigest("chain", "00312345678906", [][]byte{u1, u1}, "pharm/lee"),
		"units":     DispenseDigest("chain", "00312345678906", [][]byte{u1}, "pharm/lee"),
		"dispenser": DispenseDigest("chain", "00312345678906", [][]byte{u1, u2}, "pharm/lea"),
		"split":     DispenseDigest("chain0", "0312345678906", [][]byte{u1, u2}, "pharm/lee"),
	} {
		if bytes.Equal(d, base) {
			t.Errorf("changing the %s keeps the digest", name)
		}
	}
}

// TestShipDigestBindsEveryPart: changing any part of a shipper's statement
// changes the digest, and moving bytes between parts does too.
func TestShipDigestBindsEveryPart(t *testing.T) {
	u1, u2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	claim := bytes.Repeat([]byte{9}, 32)
	g := "00312345678906"
	base := ShipDigest("chain", g, claim, "acme", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin")
	for name, d := range map[string][]byte{
		"chain":    ShipDigest("chain2", g, claim, "acme", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"gtin":     ShipDigest("chain", "00312345678913", claim, "acme", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"claim":    ShipDigest("chain", g, u1, "acme", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"from":     ShipDigest("chain", g, claim, "rival", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"to":       ShipDigest("chain", g, claim, "acme", "dista", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"lot":      ShipDigest("chain", g, claim, "acme", "dist", []string{"L2"}, [][]byte{u1, u2}, "acme/admin"),
		"lots":     ShipDigest("chain", g, claim, "acme", "dist", []string{"L1", "L2"}, [][]byte{u1, u2}, "acme/admin"),
		"unit":     ShipDigest("chain", g, claim, "acme", "dist", []string{"L1"}, [][]byte{u1, u1}, "acme/admin"),
		"units":    ShipDigest("chain", g, claim, "acme", "dist", []string{"L1"}, [][]byte{u1}, "acme/admin"),
		"signer":   ShipDigest("chain", g, claim, "acme", "dist", []string{"L1"}, [][]byte{u1, u2}, "acme/lee"),
		"split":    ShipDigest("chain", g, claim, "acm", "edist", []string{"L1"}, [][]byte{u1, u2}, "acme/admin"),
		"dispense": DispenseDigest("chain", g, [][]byte{u1, u2}, "acme"),
	} {
		if bytes.Equal(d, base) {
			t.Errorf("changing the %s keeps the digest", name)
		}
	}
}

// TestShipStatementVerify: a signed statement verifies for a unit and lot
// it names; another unit, lot, signer key or any changed field fails.
func TestShipStatementVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	u1 := bytes.Repeat([]byte{1}, 32)
	st := ShipStatement{From: "acme", To: "dist", GTIN: "00312345678906", Claim: bytes.Repeat([]byte{9}, 32), Lots: []string{"L1"}, Units: [][]byte{u1}, Signer: "acme/admin", SignerKey: pub}
	st.Sig = ed25519.Sign(key, ShipDigest("c", st.GTIN, st.Claim, st.From, st.To, st.Lots, st.Units, st.Signer))
	if err := st.Verify("c", u1, "L1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify("c2", u1, "L1"); !errors.Is(err, ErrUnsigned) {
		t.Errorf("another chain: %v", err)
	}
	if err := st.Verify("c", bytes.Repeat([]byte{2}, 32), "L1"); err == nil {
		t.Error("another unit verified")
	}
	if err := st.Verify("c", u1, "L2"); err == nil {
		t.Error("another lot verified")
	}
	bad := st
	bad.From = "rival"
	if err := bad.Verify("c", u1, "L1"); !errors.Is(err, ErrUnsigned) {
		t.Errorf("another sender: %v", err)
	}
}
