// Package vc exports a practitioner's credential as a W3C Verifiable
// Credential (VC Data Model 2.0) secured with a Data Integrity proof of
// cryptosuite eddsa-jcs-2022, signed by the issuing principal's Ed25519
// key and naming it as a did:key.
//
// Use Issue to build and sign one and Verify to check one offline. The
// credential's credentialStatus names the ledger's online status
// (GET /v1/credentials/{id}/status on any node): a verifier asks it
// whether the credential was revoked since it was signed.
//
// JCS (RFC 8785) is implemented for what Issue writes: JSON objects,
// arrays, strings and integers. Canonicalize refuses floating-point
// numbers, which the credentials never hold, rather than risk a canonical
// form that differs from other implementations'.
package vc

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carechain/carechain"
)

// Contexts and types of the credentials Issue writes.
const (
	ContextV2        = "https://www.w3.org/ns/credentials/v2"
	Cryptosuite      = "eddsa-jcs-2022"
	ProofType        = "DataIntegrityProof"
	CredentialType   = "PractitionerCredential"
	StatusType       = "CarechainLedgerStatus"
	didKeyPrefix     = "did:key:"
	ed25519Multicode = "\xed\x01" // the multicodec of an Ed25519 public key, as a varint
)

// DIDKey is the did:key of an Ed25519 public key: the multibase base58btc
// ('z') encoding of the multicodec 0xed01 followed by the key.
func DIDKey(pub ed25519.PublicKey) string {
	return didKeyPrefix + multibaseKey(pub)
}

func multibaseKey(pub ed25519.PublicKey) string {
	return "z" + base58([]byte(ed25519Multicode+string(pub)))
}

// KeyOfDID returns the Ed25519 public key a did:key names.
func KeyOfDID(did string) (ed25519.PublicKey, error) {
	mb, ok := strings.CutPrefix(did, didKeyPrefix)
	if !ok || !strings.HasPrefix(mb, "z") {
		return nil, fmt.Errorf("%q is not a did:key in base58btc", did)
	}
	raw, err := unbase58(mb[1:])
	if err != nil {
		return nil, fmt.Errorf("did %q: %w", did, err)
	}
	if len(raw) != 2+ed25519.PublicKeySize || string(raw[:2]) != ed25519Multicode {
		return nil, fmt.Errorf("did %q is not an Ed25519 key", did)
	}
	return ed25519.PublicKey(raw[2:]), nil
}

// Issue returns the credential c as a Verifiable Credential signed by key
// (the issuing principal's), created at the given time. statusURL is the
// online status of c (a node's /v1/credentials/{id}/status); subjectDID,
// if not empty, is the practitioner's DID (else the credential names the
// practitioner by ledger ID only).
func Issue(c *carechain.Credential, key ed25519.PrivateKey, statusURL, subjectDID string, created time.Time) ([]byte, error) {
	issuer := DIDKey(key.Public().(ed25519.PublicKey))
	subject := map[string]any{
		"practitioner": c.Practitioner, "credentialKind": string(c.Kind), "value": c.Value,
	}
	if subjectDID != "" {
		subject["id"] = subjectDID
	}
	doc := map[string]any{
		"@context":          []any{ContextV2},
		"id":                "urn:carechain:credential:" + c.ID,
		"type":              []any{"VerifiableCredential", CredentialType},
		"issuer":            map[string]any{"id": issuer, "name": c.IssuerOrg, "ledgerPrincipal": c.Issuer},
		"validFrom":         rfc3339(c.ValidFrom),
		"credentialSubject": subject,
		"credentialStatus":  map[string]any{"id": statusURL, "type": StatusType},
	}
	if c.Expiry != 0 {
		doc["validUntil"] = rfc3339(c.Expiry)
	}
	proof := map[string]any{
		"type": ProofType, "cryptosuite": Cryptosuite, "created": created.UTC().Format(time.RFC3339),
		"verificationMethod": issuer + "#" + strings.TrimPrefix(issuer, didKeyPrefix), "proofPurpose": "assertionMethod",
		"@context": doc["@context"],
	}
	data, err := signingInput(doc, proof)
	if err != nil {
		return nil, err
	}
	proof["proofValue"] = "z" + base58(ed25519.Sign(key, data))
	doc["proof"] = proof
	return Canonicalize(doc)
}

func rfc3339(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// signingInput is what eddsa-jcs-2022 signs: SHA-256 of the canonical
// proof configuration, then SHA-256 of the canonical unsecured document.
func signingInput(doc, proofConfig map[string]any) ([]byte, error) {
	p, err := Canonicalize(proofConfig)
	if err != nil {
		return nil, fmt.Errorf("proof configuration: %w", err)
	}
	d, err := Canonicalize(doc)
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	ph, dh := sha256.Sum256(p), sha256.Sum256(d)
	return append(ph[:], dh[:]...), nil
}

// ErrProof is returned by Verify for a proof that does not verify.
var ErrProof = errors.New("vc: proof does not verify")

// Verify checks a credential Issue wrote, offline: its eddsa-jcs-2022
// proof against the did:key it names. It returns the credential without
// its proof. It does not ask the ledger whether it was revoked.
func Verify(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("vc: %w", err)
	}
	proof, ok := doc["proof"].(map[string]any)
	if !ok || proof["cryptosuite"] != Cryptosuite || proof["type"] != ProofType {
		return nil, fmt.Errorf("%w: no %s proof", ErrProof, Cryptosuite)
	}
	delete(doc, "proof")
	vm, _ := proof["verificationMethod"].(string)
	did, _, _ := strings.Cut(vm, "#")
	issuer, _ := doc["issuer"].(map[string]any)
	if issuer == nil || issuer["id"] != did {
		return nil, fmt.Errorf("%w: signed by %q, not by its issuer", ErrProof, did)
	}
	pub, err := KeyOfDID(did)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProof, err)
	}
	value, _ := proof["proofValue"].(string)
	sig, err := unbase58(strings.TrimPrefix(value, "z"))
	if err != nil || !strings.HasPrefix(value, "z") {
		return nil, fmt.Errorf("%w: proofValue is not base58btc", ErrProof)
	}
	delete(proof, "proofValue")
	data, err := signingInput(doc, proof)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, data, sig) {
		return nil, ErrProof
	}
	return doc, nil
}
