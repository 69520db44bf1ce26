package carechain

// A record is a chain of versions of one FHIR resource of one patient.
// Versions are append-only; each is encrypted, and only its ciphertext, its
// hash and the metadata below are on the ledger.

// CategoryPatientReported is the category of what patients write about
// themselves. Only patients write in it, and a patient writes in no other
// category, so a record's author says whether it is patient-authored
// (RecordVersion.PatientAuthored) and its category says so to whoever lists
// it: patient-reported data is never mistaken for a clinician's.
const CategoryPatientReported = "patient-reported"

// RecordHead is the current state of a record.
type RecordHead struct {
	RecordID     string `cbor:"1,keyasint" json:"record_id"`
	Patient      string `cbor:"2,keyasint" json:"patient"`
	Category     string `cbor:"3,keyasint" json:"category"`
	ResourceType string `cbor:"4,keyasint" json:"resource_type"`
	Latest       uint64 `cbor:"5,keyasint" json:"latest"`
	Deleted      bool   `cbor:"6,keyasint,omitempty" json:"deleted,omitempty"` // the latest version deletes it
	Owner        string `cbor:"7,keyasint,omitempty" json:"owner,omitempty"`   // organization that created it (its approval policies apply), or the patient who did
	Locked       bool   `cbor:"8,keyasint,omitempty" json:"locked,omitempty"`  // an approved amendment committed it: edits need another
}

// PatientAuthored reports whether the patient created the record (and so
// alone may change it).
func (h *RecordHead) PatientAuthored() bool { return h.Owner != "" && h.Owner == h.Patient }

// RecordVersion is one committed version of a record. A version the patient
// wrote has the patient as Author and no AuthorOrg: a patient writes for no
// organization, and the one that registered them did not write it.
type RecordVersion struct {
	RecordID       string `cbor:"1,keyasint" json:"record_id"`
	Version        uint64 `cbor:"2,keyasint" json:"version"`
	Patient        string `cbor:"3,keyasint" json:"patient"`
	Category       string `cbor:"4,keyasint" json:"category"`
	ResourceType   string `cbor:"5,keyasint" json:"resource_type"`
	Author         string `cbor:"6,keyasint" json:"author"`
	AuthorOrg      string `cbor:"7,keyasint" json:"author_org"`
	Height         int64  `cbor:"8,keyasint" json:"height"`
	Time           int64  `cbor:"9,keyasint" json:"time"` // block time, unix seconds
	Epoch          uint32 `cbor:"10,keyasint" json:"epoch"`
	CiphertextHash []byte `cbor:"11,keyasint" json:"ciphertext_hash"`
	Ciphertext     []byte `cbor:"12,keyasint" json:"-"`
	WrappedKey     []byte `cbor:"13,keyasint" json:"-"`
	Deleted        bool   `cbor:"14,keyasint,omitempty" json:"deleted,omitempty"`
	Proposal       string `cbor:"15,keyasint,omitempty" json:"proposal,omitempty"` // the approved amendment that committed it
	// Blob is the sealed content a Binary version names, kept off the
	// ledger in the nodes' blob stores (records/blobs.go).
	Blob *BlobRef `cbor:"16,keyasint,omitempty" json:"blob,omitempty"`
}

// BlobRef names a sealed blob kept off the ledger: the SHA-256 of its
// sealed bytes, which name it in every node's blob store, and their size.
// Anyone can check a copy against it; only readers of the record open it.
type BlobRef struct {
	Hash []byte `cbor:"1,keyasint" json:"hash"`
	Size int64  `cbor:"2,keyasint" json:"size"`
}

// PatientAuthored reports whether the patient wrote this version (the
// ledger lets a patient write only their own records).
func (v *RecordVersion) PatientAuthored() bool { return v.Author != "" && v.Author == v.Patient }
