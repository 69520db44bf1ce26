package portal

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

// TestEnrolmentCodesAreRandomAndReadable: a code is four groups of five
// base32 characters (100 random bits), and codes differ.
func TestEnrolmentCodesAreRandomAndReadable(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{5}$`)
	seen := map[string]bool{}
	for range 1000 {
		c := enrolmentCode()
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("enrolment code %q: wrong shape or repeated", c)
		}
		seen[c] = true
	}
}

// TestDecodePublicKey: 32 bytes in hex or base64, nothing else.
func TestDecodePublicKey(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, ok := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key)} {
		if got, err := decodePublicKey(ok); err != nil || string(got) != string(key) {
			t.Fatalf("decodePublicKey(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "zz", hex.EncodeToString(key[:31]), base64.StdEncoding.EncodeToString(append(key, 1))} {
		if _, err := decodePublicKey(bad); err == nil {
			t.Fatalf("decodePublicKey(%q) accepted", bad)
		}
	}
}
