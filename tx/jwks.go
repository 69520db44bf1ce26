package tx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
)

// JSON Web Key Sets (RFC 7517) of SMART clients: public keys only, each
// named by a kid and usable with one algorithm, RS384 for an RSA key of
// MinRSABits to MaxRSABits, ES384 for a P-384 key. This reads the few
// fields those keys need with the standard library; other fields (x5c,
// key_ops) are ignored, but a key carrying private or symmetric material
// is refused: a client's secret does not belong on a public ledger.
const (
	// MaxJWKSBytes bounds a client's JWKS (an RSA-4096 key is under 1 KiB).
	MaxJWKSBytes = 16 << 10
	// MaxClientKeys bounds the keys of one JWKS (room to roll keys over).
	MaxClientKeys = 8
	// MaxKeyIDLen bounds a kid.
	MaxKeyIDLen = 128
	// MinRSABits and MaxRSABits bound an RSA modulus.
	MinRSABits = 2048
	MaxRSABits = 8192
)

// ClientKey is one key of a client's JWKS.
type ClientKey struct {
	ID  string           // kid
	Alg string           // RS384 or ES384
	Key crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
}

// privateFields are JWK members that hold private or symmetric key
// material (RFC 7518 section 6).
var privateFields = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWKS reads a JSON Web Key Set of client public keys; every error
// wraps ErrInvalid.
func ParseJWKS(data []byte) ([]ClientKey, error) {
	if len(data) == 0 || len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("%w: a jwks of 1 to %d bytes is required", ErrInvalid, MaxJWKSBytes)
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: jwks: %v", ErrInvalid, err)
	}
	if len(set.Keys) == 0 || len(set.Keys) > MaxClientKeys {
		return nil, fmt.Errorf("%w: jwks must hold 1 to %d keys", ErrInvalid, MaxClientKeys)
	}
	out := make([]ClientKey, 0, len(set.Keys))
	seen := map[string]bool{}
	for i, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: jwks key #%d: %v", ErrInvalid, i, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("%w: jwks: kid %q given twice", ErrInvalid, k.ID)
		}
		seen[k.ID] = true
		out = append(out, k)
	}
	return out, nil
}

func parseJWK(raw map[string]json.RawMessage) (ClientKey, error) {
	for _, f := range privateFields {
		if _, ok := raw[f]; ok {
			return ClientKey{}, fmt.Errorf("holds private key material (%q): register public keys only", f)
		}
	}
	var k struct{ Kty, Kid, Alg, Use, N, E, Crv, X, Y string }
	for name, dst := range map[string]*string{"kty": &k.Kty, "kid": &k.Kid, "alg": &k.Alg, "use": &k.Use,
		"n": &k.N, "e": &k.E, "crv": &k.Crv, "x": &k.X, "y": &k.Y} {
		if v, ok := raw[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return ClientKey{}, fmt.Errorf("%s must be a string", name)
			}
		}
	}
	if k.Kid == "" || len(k.Kid) > MaxKeyIDLen {
		return ClientKey{}, fmt.Errorf("a kid of 1 to %d bytes is required", MaxKeyIDLen)
	}
	if k.Use != "" && k.Use != "sig" {
		return ClientKey{}, fmt.Errorf("use %q: client keys sign", k.Use)
	}
	var ck ClientKey
	var err error
	switch k.Kty {
	case "RSA":
		ck, err = rsaJWK(k.N, k.E)
	case "EC":
		ck, err = ecJWK(k.Crv, k.X, k.Y)
	default:
		return ClientKey{}, fmt.Errorf("kty %q: want RSA or EC", k.Kty)
	}
	if err != nil {
		return ClientKey{}, err
	}
	if k.Alg != "" && k.Alg != ck.Alg {
		return ClientKey{}, fmt.Errorf("alg %q: a %s key here signs with %s", k.Alg, k.Kty, ck.Alg)
	}
	ck.ID = k.Kid
	return ck, nil
}

func rsaJWK(n64, e64 string) (ClientKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil || len(n) == 0 || n[0] == 0 {
		return ClientKey{}, fmt.Errorf("n must be a minimal base64url integer")
	}
	e, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
		return ClientKey{}, fmt.Errorf("e must be a minimal base64url integer of at most 4 bytes")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if bits := pub.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return ClientKey{}, fmt.Errorf("RSA key of %d bits: want %d to %d", bits, MinRSABits, MaxRSABits)
	}
	if pub.N.Bit(0) == 0 || pub.E < 3 || pub.E&1 == 0 || pub.E > 1<<31-1 {
		return ClientKey{}, fmt.Errorf("not an RSA public key (even modulus or bad exponent)")
	}
	return ClientKey{Alg: "RS384", Key: pub}, nil
}

func ecJWK(crv, x64, y64 string) (ClientKey, error) {
	if crv != "P-384" {
		return ClientKey{}, fmt.Errorf("crv %q: want P-384 (ES384)", crv)
	}
	x, errX := base64.RawURLEncoding.DecodeString(x64)
	y, errY := base64.RawURLEncoding.DecodeString(y64)
	if errX != nil || errY != nil || len(x) != 48 || len(y) != 48 {
		return ClientKey{}, fmt.Errorf("x and y must be 48-byte base64url coordinates")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P384(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return ClientKey{}, fmt.Errorf("not a P-384 point: %v", err)
	}
	return ClientKey{Alg: "ES384", Key: pub}, nil
}

// MarshalJWKS writes keys, each an *rsa.PublicKey or a P-384
// *ecdsa.PublicKey named by kid, as a JSON Web Key Set that ParseJWKS reads.
func MarshalJWKS(keys map[string]crypto.PublicKey) ([]byte, error) {
	type jwk struct {
		Kty string `json:"kty"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		N   string `json:"n,omitempty"`
		E   string `json:"e,omitempty"`
		Crv string `json:"crv,omitempty"`
		X   string `json:"x,omitempty"`
		Y   string `json:"y,omitempty"`
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		switch k := keys[kid].(type) {
		case *rsa.PublicKey:
			set.Keys = append(set.Keys, jwk{Kty: "RSA", Kid: kid, Alg: "RS384", Use: "sig", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())})
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P384() {
				return nil, fmt.Errorf("key %q: only P-384 EC keys", kid)
			}
			raw, err := k.Bytes()
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", kid, err)
			}
			set.Keys = append(set.Keys, jwk{Kty: "EC", Kid: kid, Alg: "ES384", Use: "sig", Crv: "P-384", X: b64(raw[1:49]), Y: b64(raw[49:])})
		default:
			return nil, fmt.Errorf("key %q: a %T is not an RSA or P-384 public key", kid, k)
		}
	}
	return json.Marshal(set)
}
