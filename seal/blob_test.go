package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/carechain/carechain/seal"
)

// TestSealBlob: a sealed blob opens only with its epoch key and binding,
// holds no plaintext, and cannot pass for a record version.
func TestSealBlob(t *testing.T) {
	ek, _ := seal.NewEpochKey()
	other, _ := seal.NewEpochKey()
	b := seal.Binding{RecordID: "rec-1", Version: 1, Patient: "patient/p", Category: "imaging", Epoch: 1}
	content := bytes.Repeat([]byte("DICM image bytes "), 1000)
	sealed, err := seal.SealBlob(content, b, ek)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(content)+seal.SealedBlobOverhead || bytes.Contains(sealed, []byte("DICM")) {
		t.Fatalf("sealed blob: %d bytes, or holds plaintext", len(sealed))
	}
	if got, err := seal.OpenBlob(sealed, b, ek); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("open: %v", err)
	}
	moved := b
	moved.RecordID = "rec-2"
	altered := bytes.Clone(sealed)
	altered[len(altered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"other key":     func() ([]byte, error) { return seal.OpenBlob(sealed, b, other) },
		"other binding": func() ([]byte, error) { return seal.OpenBlob(sealed, moved, ek) },
		"altered":       func() ([]byte, error) { return seal.OpenBlob(altered, b, ek) },
		"as a record": func() ([]byte, error) {
			return seal.Open(&seal.Sealed{WrappedKey: sealed[:seal.WrappedDataKeySize], Ciphertext: sealed[seal.WrappedDataKeySize:]}, b, ek)
		},
	} {
		if _, err := open(); !errors.Is(err, seal.ErrDecrypt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := seal.SealBlob(make([]byte, seal.MaxBlobSize+1), b, ek); err == nil {
		t.Error("a blob over the limit is sealed")
	}
}
