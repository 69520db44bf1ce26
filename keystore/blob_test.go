package keystore

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealedBlob(t *testing.T) {
	data := []byte("node_key.json and friends")
	sealed, err := SealBlob(data, []byte("pass"), []byte("ad-1"), FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, data) {
		t.Fatal("sealed blob holds the plaintext")
	}
	got, err := OpenBlob(sealed, []byte("pass"), []byte("ad-1"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("OpenBlob = %q, %v", got, err)
	}
	for name, try := range map[string]func() ([]byte, error){
		"wrong passphrase": func() ([]byte, error) { return OpenBlob(sealed, []byte("nope"), []byte("ad-1")) },
		"other context":    func() ([]byte, error) { return OpenBlob(sealed, []byte("pass"), []byte("ad-2")) },
	} {
		if _, err := try(); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s: %v, want ErrWrongPassphrase", name, err)
		}
	}
	if _, err := SealBlob(data, nil, nil, FastKDF); err == nil {
		t.Error("empty passphrase accepted")
	}
	if _, err := OpenBlob([]byte(`{"version":1,"kdf":"scrypt","scrypt":{"n":3,"r":8,"p":1}}`), []byte("p"), nil); err == nil {
		t.Error("malformed blob accepted")
	}
}
