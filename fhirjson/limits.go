package fhirjson

// Limits applied to untrusted input before it reaches the schema validator.
const (
	// MaxResourceSize is the largest resource, in bytes, that Validate and
	// Canonical accept.
	MaxResourceSize = 4 << 20
	// MaxDepth is the deepest nesting of JSON objects and arrays accepted.
	// The resource object itself is depth 1.
	MaxDepth = 64
)
