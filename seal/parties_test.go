package seal

import (
	"bytes"
	"errors"
	"testing"
)

// TestPartySealOpensForItsReadersOnly: each reader a message is sealed to
// opens it; another key, a reader it is not wrapped to, a wrap moved to
// another reader or version, and a changed byte all fail with ErrDecrypt.
func TestPartySealOpensForItsReadersOnly(t *testing.T) {
	patient, org, other := newKey(t), newKey(t), newKey(t)
	s, err := SealToParties(fhir, testBinding, map[string]Recipient{"patient/p": patient.Public(), "hosp-a": org.Public()})
	if err != nil {
		t.Fatal(err)
	}
	for reader, id := range map[string]*PrivateKey{"patient/p": patient, "hosp-a": org} {
		if got, err := OpenAsParty(s, testBinding, reader, id); err != nil || !bytes.Equal(got, fhir) {
			t.Fatalf("%s: %v", reader, err)
		}
	}
	moved := *s
	moved.Wraps = []ReaderWrap{{Reader: "hosp-b", Wrapped: s.Wraps[0].Wrapped}}
	tampered := *s
	tampered.Ciphertext = bytes.Clone(s.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	later := testBinding
	later.Version++
	for name, c := range map[string]struct {
		s      *PartySealed
		b      Binding
		reader string
		id     Identity
	}{
		"another key":     {s, testBinding, "hosp-a", other},
		"no wrap for it":  {s, testBinding, "hosp-b", other},
		"wrap moved":      {&moved, testBinding, "hosp-b", org},
		"another version": {s, later, "hosp-a", org},
		"changed byte":    {&tampered, testBinding, "hosp-a", org},
	} {
		if _, err := OpenAsParty(c.s, c.b, c.reader, c.id); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
	if _, err := SealToParties(fhir, testBinding, nil); err == nil {
		t.Error("sealed to nobody")
	}
}
