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
