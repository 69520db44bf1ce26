package proof

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// TestAppHashWithoutSupplyRootIsUnchanged pins the v2 app hash for an
// AppInfo without a supply map root (every block before the first supply
// write, and every older chain), its CBOR and JSON forms, and that a root
// changes the hash under the v3 tag.
func TestAppHashWithoutSupplyRootIsUnchanged(t *testing.T) {
	i := AppInfo{StateHash: bytes.Repeat([]byte{1}, 32), LogSize: 42, LogRoot: bytes.Repeat([]byte{2}, 32)}
	h := sha256.New()
	h.Write([]byte("carechain/apphash/v2"))
	h.Write(binary.BigEndian.AppendUint64(nil, 42))
	h.Write(i.LogRoot)
	h.Write(i.StateHash)
	if got := i.AppHash(); !bytes.Equal(got, h.Sum(nil)) {
		t.Fatalf("app hash without a supply root changed: %x", got)
	}
	type v2Info struct { // AppInfo as it was before the supply root
		StateHash []byte `cbor:"1,keyasint" json:"state_hash"`
		LogSize   uint64 `cbor:"2,keyasint" json:"log_size"`
		LogRoot   []byte `cbor:"3,keyasint" json:"log_root"`
	}
	old := v2Info{i.StateHash, i.LogSize, i.LogRoot}
	for _, enc := range []func(any) ([]byte, error){cbor.Marshal, json.Marshal} {
		a, err1 := enc(i)
		b, err2 := enc(old)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("encoding without a supply root changed: %s / %s", a, b)
		}
	}
	i.SupplyRoot = bytes.Repeat([]byte{3}, 32)
	h = sha256.New()
	h.Write([]byte("carechain/apphash/v3"))
	h.Write(binary.BigEndian.AppendUint64(nil, 42))
	h.Write(i.LogRoot)
	h.Write(i.StateHash)
	h.Write(i.SupplyRoot)
	if got := i.AppHash(); !bytes.Equal(got, h.Sum(nil)) {
		t.Fatalf("app hash with a supply root: %x", got)
	}
}
