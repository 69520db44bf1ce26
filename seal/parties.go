package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
)

// Party sealing: a record version readable by a named set of readers only,
// whatever the epoch of its category. A message (a FHIR Communication) is
// sealed this way to its parties' readers, so an organization that holds
// the patient's epoch keys through a grant, but is no party, holds nothing
// that opens it.
//
// The content is encrypted under a fresh data key, bound to the record
// version (Binding without category and epoch); the data key is wrapped
// with HPKE to each reader, bound to the same record version and to the
// reader's ID.

// MaxParties bounds the readers of one party-sealed version.
const MaxParties = 16

// ReaderWrap is a data key wrapped to one reader.
type ReaderWrap struct {
	Reader  string `json:"reader"`
	Wrapped []byte `json:"wrapped"`
}

// PartySealed is content sealed to a set of readers. Both fields are safe
// to store and publish.
type PartySealed struct {
	Wraps      []ReaderWrap `json:"wraps"`
	Ciphertext []byte       `json:"ciphertext"`
}

// Readers names the readers s is wrapped to.
func (s *PartySealed) Readers() []string {
	out := make([]string, 0, len(s.Wraps))
	for _, w := range s.Wraps {
		out = append(out, w.Reader)
	}
	return out
}

// SealToParties encrypts plaintext under a fresh data key, bound to b
// (its RecordID, Version and Patient), and wraps the key to each reader.
func SealToParties(plaintext []byte, b Binding, readers map[string]Recipient) (*PartySealed, error) {
	if err := checkID("record ID", b.RecordID); err != nil {
		return nil, err
	}
	if err := checkID("patient", b.Patient); err != nil {
		return nil, err
	}
	if len(readers) == 0 || len(readers) > MaxParties {
		return nil, fmt.Errorf("seal: %d readers, want 1 to %d", len(readers), MaxParties)
	}
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("seal: plaintext is %d bytes, limit is %d", len(plaintext), MaxPlaintextSize)
	}
	dk := make([]byte, KeySize)
	defer clear(dk)
	rand.Read(dk)
	out := &PartySealed{Ciphertext: newAEAD(dk).Seal(nil, nil, plaintext, b.recordAD())}
	names := make([]string, 0, len(readers))
	for r := range readers {
		names = append(names, r)
	}
	slices.Sort(names)
	for _, r := range names {
		if err := checkID("reader", r); err != nil {
			return nil, err
		}
		w, err := readers[r].Wrap(dk, b.partyInfo(r))
		if err != nil {
			return nil, fmt.Errorf("seal: wrap the data key to %s: %w", r, err)
		}
		out.Wraps = append(out.Wraps, ReaderWrap{Reader: r, Wrapped: w})
	}
	return out, nil
}

// OpenAsParty opens s as reader with id. It returns ErrDecrypt if s holds
// no wrap for reader, id does not open it, or anything was changed.
func OpenAsParty(s *PartySealed, b Binding, reader string, id Identity) ([]byte, error) {
	if s == nil || id == nil {
		return nil, errors.New("seal: nil PartySealed or Identity")
	}
	if len(s.Wraps) > MaxParties || len(s.Ciphertext) < gcmOverhead || len(s.Ciphertext) > MaxCiphertextSize {
		return nil, fmt.Errorf("seal: party-sealed content is malformed (%d wraps, %d bytes)", len(s.Wraps), len(s.Ciphertext))
	}
	i := slices.IndexFunc(s.Wraps, func(w ReaderWrap) bool { return w.Reader == reader })
	if i < 0 || len(s.Wraps[i].Wrapped) > maxWrappedEpochKeySize {
		return nil, ErrDecrypt
	}
	dk, err := id.Unwrap(s.Wraps[i].Wrapped, b.partyInfo(reader))
	if err != nil || len(dk) != KeySize {
		return nil, ErrDecrypt
	}
	defer clear(dk)
	plaintext, err := newAEAD(dk).Open(nil, nil, s.Ciphertext, b.recordAD())
	if err != nil {
		return nil, ErrDecrypt
	}
	return plaintext, nil
}

// partyInfo is the HPKE info of a party wrap: the record version and the
// reader, so a wrap cannot be moved to another version or reader.
func (b Binding) partyInfo(reader string) []byte {
	return appendString(b.appendVersion([]byte("carechain/party-key/v1")), reader)
}
