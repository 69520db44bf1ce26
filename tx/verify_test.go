package tx

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
)

// TestVerifyBatchAgreesWithVerify: a batch's verdicts are Verify's, one by
// one, whether all signatures verify or some do not (a bad signature, the
// wrong key, a key that is not a curve point, a tampered payload).
func TestVerifyBatchAgreesWithVerify(t *testing.T) {
	var ss []*Signed
	var pubs []ed25519.PublicKey
	for i := range 8 {
		key := testKey(byte(10 + i))
		raw, err := Sign(key, "test-chain", fmt.Sprintf("hosp-a/s%d", i), 1, TypeRevoke, &Revoke{ID: "hosp-a/x"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		ss, pubs = append(ss, s), append(pubs, key.Public().(ed25519.PublicKey))
	}
	cases := []struct {
		name  string
		edit  func(i int) // spoils entry i
		wrong []int
	}{
		{"all good", nil, nil},
		{"a bad signature", func(i int) { ss[i].Sig = append([]byte{}, ss[i].Sig...); ss[i].Sig[5] ^= 1 }, []int{3}},
		{"the wrong key", func(i int) { pubs[i] = testKey(99).Public().(ed25519.PublicKey) }, []int{0, 7}},
		{"not a key", func(i int) { pubs[i] = make(ed25519.PublicKey, ed25519.PublicKeySize-1) }, []int{2}},
		{"a tampered payload", func(i int) { ss[i].Payload = append(append([]byte{}, ss[i].Payload...), 0) }, []int{6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keepS, keepP := slices.Clone(ss), slices.Clone(pubs)
			defer func() { copy(ss, keepS); copy(pubs, keepP) }()
			for _, i := range c.wrong {
				s := *ss[i]
				ss[i] = &s
				c.edit(i)
			}
			var v Verifier
			got := v.VerifyBatch(ss, pubs)
			for i := range ss {
				want := !slices.Contains(c.wrong, i)
				if single := v.Verify(ss[i], pubs[i]) == nil; single != want {
					t.Fatalf("entry %d: Verify = %v, want %v", i, single, want)
				}
				if got[i] != want {
					t.Errorf("entry %d: batch verdict %v, want %v", i, got[i], want)
				}
			}
		})
	}
}

// signedBatch is n signed transactions of n signers, decoded, with their keys.
func signedBatch(b *testing.B, n int) ([]*Signed, []ed25519.PublicKey) {
	b.Helper()
	ss, pubs := make([]*Signed, n), make([]ed25519.PublicKey, n)
	for i := range n {
		key := testKey(byte(i))
		raw, err := Sign(key, "test-chain", fmt.Sprintf("hosp-a/s%d", i), 1, TypeRevoke, &Revoke{ID: "hosp-a/x"})
		if err != nil {
			b.Fatal(err)
		}
		if ss[i], err = Decode(raw); err != nil {
			b.Fatal(err)
		}
		pubs[i] = key.Public().(ed25519.PublicKey)
	}
	return ss, pubs
}

// BenchmarkVerify is the cost of one signature check as CheckTx does it
// (the signer's key already decompressed): the floor of any ledger
// transaction's cost, to compare with the accept-all ceiling of bench ledger.
func BenchmarkVerify(b *testing.B) {
	ss, pubs := signedBatch(b, 64)
	var v Verifier
	b.ResetTimer()
	for i := range b.N {
		if err := v.Verify(ss[i%64], pubs[i%64]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyBatch is the cost per signature of checking a block's 1000
// signatures in one batch, as FinalizeBlock does for what CheckTx did not see.
func BenchmarkVerifyBatch(b *testing.B) {
	ss, pubs := signedBatch(b, 1000)
	var v Verifier
	b.ResetTimer()
	for range b.N / 1000 {
		for i, ok := range v.VerifyBatch(ss, pubs) {
			if !ok {
				b.Fatalf("signature %d", i)
			}
		}
	}
}
