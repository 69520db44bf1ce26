package records

import "bytes"

// With Options.Bypass switched off (only in a build with -tags notrust, see
// package trust) a record version is stored as its plaintext: the
// "ciphertext" is the canonical resource and the wrapped key a placeholder
// the ledger's shape check accepts. Nothing of it is sealed or wrapped, so
// the cost-of-trust row measures the write and read paths without
// encryption. In other builds neither function is reachable.

// bypassSeal is canonical stored as is, with its placeholder wrapped key.
// canonical is cleared by the caller: the version keeps a copy.
func bypassSeal(canonical []byte) (ciphertext, wrappedKey []byte) {
	return bytes.Clone(canonical), []byte{0}
}

// bypassOpen is the resource of a version bypassSeal stored.
func bypassOpen(ciphertext []byte) []byte { return bytes.Clone(ciphertext) }
