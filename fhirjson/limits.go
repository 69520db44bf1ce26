package fhirjson

import "github.com/carechain/carechain"

// Limits applied to untrusted input before it reaches the schema validator.
const (
	// MaxResourceSize is the largest JSON document, in bytes, that Parse,
	// Validate and Canonical accept. It is the largest request body
	// (carechain.MaxRequestBytes) because a transaction Bundle is parsed
	// whole; each stored resource is held to carechain.MaxResourceBytes in
	// canonical form by the layer that seals it.
	MaxResourceSize = carechain.MaxRequestBytes
	// MaxDepth is the deepest nesting of JSON objects and arrays accepted.
	// The resource object itself is depth 1.
	MaxDepth = 64
)
