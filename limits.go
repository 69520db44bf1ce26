package carechain

// Size limits. Every layer's limit derives from one number, the largest
// transaction, so nothing accepted by one layer is refused by the next for
// its size: an HTTP body that fits MaxRequestBytes parses, a resource that
// fits MaxResourceBytes seals into at most MaxCiphertextBytes, and that fits a
// transaction with room for its key wraps.
const (
	// MaxTxBytes bounds an encoded transaction envelope (CometBFT's own
	// limit is set from it).
	MaxTxBytes = 1 << 20
	// MaxCiphertextBytes bounds one encrypted record version. The rest of a
	// transaction (a quarter) is left for its key wraps and fields.
	MaxCiphertextBytes = MaxTxBytes / 4 * 3
	// MaxResourceBytes bounds one FHIR resource in canonical form: what seals
	// into MaxCiphertextBytes (a data key's nonce and tag are 28 bytes; the
	// rest is margin). records refuses a larger one as KindTooLarge.
	MaxResourceBytes = MaxCiphertextBytes - 1<<10
	// MaxRequestBytes bounds an HTTP request body and the JSON documents
	// parsed from one. A FHIR transaction Bundle becomes one transaction, so
	// no body larger than a transaction can be stored.
	MaxRequestBytes = MaxTxBytes
	// MaxSmallRequestBytes bounds bodies that carry no resource (token
	// requests, logins, consents).
	MaxSmallRequestBytes = 64 << 10
	// MaxBlobBytes bounds the content of one Binary (an image): it is kept
	// off the ledger, sealed, in the nodes' blob stores; the ledger holds
	// only its hash and size.
	MaxBlobBytes = 64 << 20
	// MaxSealedBlobBytes bounds a sealed blob: the content, its wrapped
	// data key and its nonce and tag (seal.SealBlob).
	MaxSealedBlobBytes = MaxBlobBytes + 1<<10
	// MaxBlobRequestBytes bounds a Binary upload: the content as base64 in
	// a FHIR Binary JSON, with room for its other fields.
	MaxBlobRequestBytes = MaxBlobBytes/3*4 + 64<<10
)
