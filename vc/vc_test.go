package vc

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
)

func TestIssueVerifiesAndTamperingDoesNot(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	c := &carechain.Credential{ID: "card-1", Practitioner: "clinic/dr-card", Kind: carechain.CredentialSpecialty, Value: "cardiology",
		IssuerOrg: "board", Issuer: "board/admin", ValidFrom: 1_800_000_000, Expiry: 1_900_000_000}
	raw, err := Issue(c, key, "http://node/v1/credentials/card-1/status", "", time.Unix(1_800_000_100, 0))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if iss := doc["issuer"].(map[string]any)["id"].(string); !strings.HasPrefix(iss, "did:key:z6Mk") {
		t.Fatalf("issuer %s: an Ed25519 did:key starts z6Mk", iss)
	}
	if doc["validUntil"] != "2030-03-17T17:46:40Z" || doc["credentialStatus"].(map[string]any)["id"] != "http://node/v1/credentials/card-1/status" {
		t.Fatalf("credential: %v", doc)
	}
	for _, edit := range []func(map[string]any){
		func(d map[string]any) { d["credentialSubject"].(map[string]any)["value"] = "neurology" },
		func(d map[string]any) { d["validUntil"] = "2099-01-01T00:00:00Z" },
		func(d map[string]any) {
			other := DIDKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey))
			d["issuer"].(map[string]any)["id"] = other
			d["proof"].(map[string]any)["verificationMethod"] = other + "#" + strings.TrimPrefix(other, "did:key:")
		},
	} {
		var d map[string]any
		json.Unmarshal(raw, &d)
		edit(d)
		forged, _ := json.Marshal(d)
		if _, err := Verify(forged); !errors.Is(err, ErrProof) {
			t.Errorf("a tampered credential verifies: %v", err)
		}
	}
}

func TestDIDKeyRoundTrip(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	got, err := KeyOfDID(DIDKey(pub))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"did:web:x", "did:key:6Mk", "did:key:z0OIl", "did:key:z" + base58([]byte{0xec, 0x01, 1, 2})} {
		if _, err := KeyOfDID(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if base58([]byte{0, 0, 1}) != "112" {
		t.Errorf("leading zeros: %s", base58([]byte{0, 0, 1}))
	}
}

func TestCanonicalizeRFC8785(t *testing.T) {
	got, err := Canonicalize(map[string]any{"b": []any{"\u20ac", "\n", int64(3)}, "a": map[string]any{"\u00e9": true, "z": nil}, "\U0001F600": "x", "\uFB33": "y"})
	if err != nil {
		t.Fatal(err)
	}
	// Keys sort by UTF-16 code units: the surrogate pair of U+1F600 (0xD83D) before U+FB33.
	want := "{\"a\":{\"z\":null,\"\u00e9\":true},\"b\":[\"\u20ac\",\"\\n\",3],\"\U0001F600\":\"x\",\"\uFB33\":\"y\"}"
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := Canonicalize(json.Number("1.5")); err == nil {
		t.Fatal("a float was canonicalized")
	}
}
