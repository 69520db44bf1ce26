package tx

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/carechain/carechain"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func validRegister(t testing.TB) []byte {
	t.Helper()
	key := testKey(1)
	raw, err := Sign(key, "test-chain", "hosp-a/admin", 1, TypeRegister, &Register{
		ID: "hosp-a/dr-who", Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician},
		Name: "Dr Who", PublicKey: testKey(2).Public().(ed25519.PublicKey),
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignDecodeVerifyRoundTrip(t *testing.T) {
	raw := validRegister(t)
	s, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.ChainID != "test-chain" || s.Signer != "hosp-a/admin" || s.Nonce != 1 || s.Type != TypeRegister {
		t.Fatalf("decoded %+v", s.Tx)
	}
	if err := s.Verify(testKey(1).Public().(ed25519.PublicKey)); err != nil {
		t.Fatalf("verify with signer key: %v", err)
	}
	if err := s.Verify(testKey(2).Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verify with other key: %v, want ErrBadSignature", err)
	}
	b, err := s.DecodeBody()
	if err != nil {
		t.Fatal(err)
	}
	if r := b.(*Register); r.ID != "hosp-a/dr-who" || r.Roles[0] != carechain.RolePhysician {
		t.Fatalf("body %+v", r)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := validRegister(t)
	var env Envelope
	if err := Unmarshal(good, &env); err != nil {
		t.Fatal(err)
	}
	nonCanonical := func() []byte {
		// Same envelope with map keys in non-canonical (descending) order.
		out := []byte{0xa2, 0x02}
		sig, _ := cbor.Marshal(env.Sig)
		out = append(out, sig...)
		out = append(out, 0x01)
		p, _ := cbor.Marshal(env.Payload)
		return append(out, p...)
	}
	withUnknownField, _ := Marshal(map[int]any{1: env.Payload, 2: env.Sig, 3: 1})
	shortSig, _ := Marshal(Envelope{Payload: env.Payload, Sig: env.Sig[:10]})
	badPayload, _ := Marshal(Envelope{Payload: []byte{0xff}, Sig: env.Sig})
	noSigner, _ := Marshal(Tx{ChainID: "c", Type: TypeRegister})
	noSignerEnv, _ := Marshal(Envelope{Payload: noSigner, Sig: env.Sig})
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"garbage", []byte("not cbor at all"), ErrMalformed},
		{"trailing bytes", append(bytes.Clone(good), 0), ErrMalformed},
		{"non-canonical map order", nonCanonical(), ErrMalformed},
		{"unknown field", withUnknownField, ErrMalformed},
		{"short signature", shortSig, ErrMalformed},
		{"payload not cbor", badPayload, ErrMalformed},
		{"missing signer", noSignerEnv, ErrMalformed},
		{"too large", make([]byte, MaxTxBytes+1), ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Decode(c.raw); !errors.Is(err, c.want) {
				t.Fatalf("Decode: %v, want %v", err, c.want)
			}
		})
	}
}

func TestTamperedPayloadFailsVerify(t *testing.T) {
	raw := validRegister(t)
	pub := testKey(1).Public().(ed25519.PublicKey)
	for i := range raw {
		mutated := bytes.Clone(raw)
		mutated[i] ^= 0x01
		s, err := Decode(mutated)
		if err != nil {
			continue // rejected as malformed: fine
		}
		if s.Verify(pub) == nil {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
}

// testNodeID is a well-formed CometBFT node ID.
var testNodeID = strings.Repeat("0a", 20)

func TestNodeRegistrationDecodes(t *testing.T) {
	pub := testKey(2).Public().(ed25519.PublicKey)
	raw, err := Sign(testKey(1), "c", "h/admin", 1, TypeRegister, &Register{ID: "h/node0", Kind: carechain.KindNode, NodeID: testNodeID, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, err := s.DecodeBody()
	if err != nil {
		t.Fatal(err)
	}
	if r := body.(*Register); r.Kind != carechain.KindNode || r.NodeID != testNodeID {
		t.Fatalf("decoded %+v", r)
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	key := testKey(1)
	pub := testKey(2).Public().(ed25519.PublicKey)
	cases := []struct {
		name string
		typ  Type
		body any
		want error
	}{
		{"unknown type", Type("record.burn"), &Revoke{ID: "a/b"}, ErrUnknownType},
		{"bad id", TypeRegister, &Register{ID: "../etc", Kind: carechain.KindPatient, PublicKey: pub}, ErrInvalid},
		{"unknown role", TypeRegister, &Register{ID: "h/x", Kind: carechain.KindPractitioner, Roles: []carechain.Role{"wizard"}, PublicKey: pub}, ErrInvalid},
		{"patient with name", TypeRegister, &Register{ID: "patient/p1", Kind: carechain.KindPatient, Name: "Alice", PublicKey: pub}, ErrInvalid},
		{"staff id as patient", TypeRegister, &Register{ID: "h/p1", Kind: carechain.KindPatient, PublicKey: pub}, ErrInvalid},
		{"short key", TypeRegister, &Register{ID: "h/x", Kind: carechain.KindPractitioner, PublicKey: pub[:5]}, ErrInvalid},
		{"unknown kind", TypeRegister, &Register{ID: "h/x", Kind: "robot", PublicKey: pub}, ErrInvalid},
		{"node without node id", TypeRegister, &Register{ID: "h/n1", Kind: carechain.KindNode, PublicKey: pub}, ErrInvalid},
		{"node id not hex", TypeRegister, &Register{ID: "h/n1", Kind: carechain.KindNode, NodeID: strings.Repeat("G", 40), PublicKey: pub}, ErrInvalid},
		{"node id upper case", TypeRegister, &Register{ID: "h/n1", Kind: carechain.KindNode, NodeID: strings.Repeat("A", 40), PublicKey: pub}, ErrInvalid},
		{"node with roles", TypeRegister, &Register{ID: "h/n1", Kind: carechain.KindNode, NodeID: testNodeID, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: pub}, ErrInvalid},
		{"patient-scoped node", TypeRegister, &Register{ID: "patient/n1", Kind: carechain.KindNode, NodeID: testNodeID, PublicKey: pub}, ErrInvalid},
		{"staff with node id", TypeRegister, &Register{ID: "h/x", Kind: carechain.KindPractitioner, NodeID: testNodeID, PublicKey: pub}, ErrInvalid},
		{"rotate without proof", TypeRotate, &Rotate{NewKey: pub}, ErrInvalid},
		{"long reason", TypeRevoke, &Revoke{ID: "h/x", Reason: string(bytes.Repeat([]byte("a"), MaxStringLen+1))}, ErrInvalid},
		{"empty governance proposal", TypeGovPropose, &GovPropose{Expires: 1}, ErrInvalid},
		{"policy voter named twice", TypeGovPropose, &GovPropose{Policy: &GovernancePolicy{Voters: []string{"h", "h"}}, Expires: 1}, ErrInvalid},
		{"policy threshold over its voters", TypeGovPropose, &GovPropose{Policy: &GovernancePolicy{Voters: []string{"h"}, Threshold: 2}, Expires: 1}, ErrInvalid},
		{"application admin of another org", TypeGovPropose, &GovPropose{Join: &OrgApplication{Org: carechain.Organization{ID: "p", Type: carechain.OrgPharmacy, EncryptionKey: []byte{1}},
			Admin: JoinPrincipal{ID: "h/admin", PublicKey: pub}, AdminProof: make([]byte, 64)}, Expires: 1}, ErrInvalid},
		{"application without encryption key", TypeGovPropose, &GovPropose{Join: &OrgApplication{Org: carechain.Organization{ID: "p", Type: carechain.OrgPharmacy},
			Admin: JoinPrincipal{ID: "p/admin", PublicKey: pub}, AdminProof: make([]byte, 64)}, Expires: 1}, ErrInvalid},
		{"validator power 0", TypeGovPropose, &GovPropose{Join: &OrgApplication{Org: carechain.Organization{ID: "p", Type: carechain.OrgPharmacy, EncryptionKey: []byte{1}},
			Admin: JoinPrincipal{ID: "p/admin", PublicKey: pub}, AdminProof: make([]byte, 64),
			Node: &JoinNode{JoinPrincipal: JoinPrincipal{ID: "p/node", PublicKey: testKey(3).Public().(ed25519.PublicKey)}, NodeID: testNodeID, Validator: &JoinValidator{PublicKey: pub, Proof: make([]byte, 64)}}}, Expires: 1}, ErrInvalid},
		{"removal and policy together", TypeGovPropose, &GovPropose{Remove: "h", Policy: &GovernancePolicy{}, Expires: 1}, ErrInvalid},
		{"removal of a bad org id", TypeGovPropose, &GovPropose{Remove: "h/x", Expires: 1}, ErrInvalid},
		{"validator change with a short key", TypeGovPropose, &GovPropose{Validator: &ValidatorChange{PublicKey: pub[:5], Power: 1}, Expires: 1}, ErrInvalid},
		{"validator change of negative power", TypeGovPropose, &GovPropose{Validator: &ValidatorChange{PublicKey: pub, Power: -1}, Expires: 1}, ErrInvalid},
		{"validator change over the power limit", TypeGovPropose, &GovPropose{Validator: &ValidatorChange{PublicKey: pub, Power: MaxValidatorPower + 1}, Expires: 1}, ErrInvalid},
		{"validator change with a short proof", TypeGovPropose, &GovPropose{Validator: &ValidatorChange{PublicKey: pub, Power: 1, Node: "h/n", Proof: []byte{1}}, Expires: 1}, ErrInvalid},
		{"upgrade without a name", TypeGovPropose, &GovPropose{Upgrade: &UpgradePlan{Height: 10}, Expires: 1}, ErrInvalid},
		{"upgrade name with a slash", TypeGovPropose, &GovPropose{Upgrade: &UpgradePlan{Name: "v2/x", Height: 10}, Expires: 1}, ErrInvalid},
		{"upgrade at height 0", TypeGovPropose, &GovPropose{Upgrade: &UpgradePlan{Name: "v2", Height: 0}, Expires: 1}, ErrInvalid},
		{"upgrade and removal together", TypeGovPropose, &GovPropose{Upgrade: &UpgradePlan{Name: "v2", Height: 10}, Remove: "h", Expires: 1}, ErrInvalid},
		{"approval without proposal", TypeGovApprove, &GovApprove{}, ErrInvalid},
		{"wrong body type", TypeRevoke, &Register{ID: "h/x", Kind: carechain.KindPractitioner, PublicKey: pub}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := Sign(key, "c", "h/admin", 1, c.typ, c.body)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DecodeBody(); !errors.Is(err, c.want) {
				t.Fatalf("DecodeBody: %v, want %v", err, c.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(validRegister(f))
	f.Add([]byte{0xa2, 0x01, 0x40, 0x02, 0x40})
	f.Add([]byte{})
	pub := testKey(1).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := Decode(raw)
		if err != nil {
			return
		}
		// Whatever decodes must have one canonical form, and checking it must not panic.
		again, err := Marshal(Envelope{Payload: s.Payload, Sig: s.Sig})
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatalf("decoded envelope does not re-encode to its input")
		}
		_ = s.Verify(pub)
		_, _ = s.DecodeBody()
	})
}

func FuzzVerify(f *testing.F) {
	raw := validRegister(f)
	f.Add(raw, []byte(testKey(1).Public().(ed25519.PublicKey)))
	f.Add(raw, []byte{1, 2, 3})
	good, _ := Decode(raw)
	f.Fuzz(func(t *testing.T, raw, pub []byte) {
		s, err := Decode(raw)
		if err != nil {
			return
		}
		var v Verifier
		plain, cached := s.Verify(pub), v.Verify(s, pub)
		if (plain == nil) != (cached == nil) {
			t.Fatalf("Verify says %v, Verifier says %v", plain, cached)
		}
		if plain == nil && bytes.Equal(s.Payload, good.Payload) && !bytes.Equal(pub, testKey(1).Public().(ed25519.PublicKey)) {
			t.Fatal("payload verified under a key that did not sign it")
		}
	})
}
