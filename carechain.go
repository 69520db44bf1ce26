// Package carechain holds the domain types of carechain, a consortium ledger for
// patient-controlled health records: organizations, principals (admins,
// practitioners, researchers, patients, and the organizations' nodes) and
// their roles.
//
// The other packages implement the system around these types: tx encodes and
// signs transactions, ledger executes them, store persists state, node runs a
// CometBFT node, nodeapi and fhirrest serve HTTP. Nothing here does I/O.
package carechain

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// OrgType is the kind of a consortium member.
type OrgType string

// Organization types known to the ledger.
const (
	OrgHospital OrgType = "hospital"
	OrgLab      OrgType = "lab"
	OrgPharmacy OrgType = "pharmacy"
	OrgInsurer  OrgType = "insurer"
	OrgResearch OrgType = "research"
	// OrgManufacturer makes drugs or devices: it registers products and
	// commissions their serialized units (package supply).
	OrgManufacturer OrgType = "manufacturer"
	// OrgWholesaler buys units from manufacturers and sells them on.
	OrgWholesaler OrgType = "wholesaler"
	// OrgLicensing is a credentialing body (a medical board, a licensing
	// authority): its admin and credentialing officers issue and revoke
	// practitioners' credentials (credential.go). A hospital's
	// credentialing office issues them too, as the hospital.
	OrgLicensing OrgType = "licensing"
)

var orgTypes = []OrgType{OrgHospital, OrgLab, OrgPharmacy, OrgInsurer, OrgResearch, OrgManufacturer, OrgWholesaler, OrgLicensing}

// OrgTypes lists every valid organization type.
func OrgTypes() []OrgType { return slices.Clone(orgTypes) }

// Valid reports whether t is a known organization type.
func (t OrgType) Valid() bool { return slices.Contains(orgTypes, t) }

// Organization is a consortium member. Its admins are principals of kind KindAdmin.
type Organization struct {
	ID   string  `cbor:"1,keyasint" json:"id"`
	Name string  `cbor:"2,keyasint" json:"name"`
	Type OrgType `cbor:"3,keyasint" json:"type"`
	// EncryptionKey is the organization's HPKE public key (seal.PublicKey):
	// record keys are wrapped to it, and the organization's nodes hold the
	// private key on behalf of its staff.
	EncryptionKey []byte `cbor:"4,keyasint,omitempty" json:"encryption_key,omitempty"`
}

// Kind says what a principal is.
type Kind string

// Principal kinds.
const (
	// KindAdmin administers an organization: it registers practitioners and revokes their keys.
	KindAdmin Kind = "admin"
	// KindPractitioner is a member of staff of an organization (physician, clerk, researcher, ...).
	KindPractitioner Kind = "practitioner"
	// KindPatient owns their records and their key; no organization can revoke it.
	KindPatient Kind = "patient"
	// KindNode is a node of an organization, registered by its admin with
	// its CometBFT node ID (Principal.NodeID). Only nodes anchor access
	// events, and only registered nodes peer.
	KindNode Kind = "node"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	return k == KindAdmin || k == KindPractitioner || k == KindPatient || k == KindNode
}

// Role is what a practitioner does within their organization. Consent and
// approval rules (later issues) are written in terms of roles.
type Role string

// Roles known to the ledger. A registration naming any other role is rejected,
// so a typo cannot silently create a role nobody's rules refer to.
const (
	RolePhysician         Role = "physician"
	RoleNurse             Role = "nurse"
	RoleSpecialist        Role = "specialist"
	RoleRadiologist       Role = "radiologist"
	RoleHeadOfRadiology   Role = "head-of-radiology"
	RoleHeadOfDepartment  Role = "head-of-department"
	RoleHospitalAuthority Role = "hospital-authority"
	RoleRegistrationClerk Role = "registration-clerk"
	RoleLabTechnician     Role = "lab-technician"
	RolePharmacist        Role = "pharmacist"
	RoleClaimsOfficer     Role = "claims-officer"
	RoleResearcher        Role = "researcher"
	// RoleAuditor fetches proofs of any ledger entry (GET /v1/proofs/…);
	// each fetch is in the patient's access log. It reads no record.
	RoleAuditor Role = "auditor"
	// RoleSupplyOfficer registers products, commissions units and records
	// their custody (ship, receive, dispense, flag, recall) for its
	// organization, as its admin may.
	RoleSupplyOfficer Role = "supply-officer"
	// RoleCredentialingOfficer issues and revokes practitioners'
	// credentials for a licensing body or a hospital, as its admin may.
	RoleCredentialingOfficer Role = "credentialing-officer"
)

var roles = []Role{
	RolePhysician, RoleNurse, RoleSpecialist, RoleRadiologist, RoleHeadOfRadiology,
	RoleHeadOfDepartment, RoleHospitalAuthority, RoleRegistrationClerk, RoleLabTechnician,
	RolePharmacist, RoleClaimsOfficer, RoleResearcher, RoleAuditor, RoleSupplyOfficer, RoleCredentialingOfficer,
}

// Roles lists every valid role.
func Roles() []Role { return slices.Clone(roles) }

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(roles, r) }

// Status is the state of a principal's key.
type Status string

// Key states.
const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
)

// Principal is an identity that signs transactions.
//
// Patients are registered under a pseudonymous ID and carry no name or other
// personal data on the ledger; their demographics are an encrypted record.
type Principal struct {
	ID        string            `cbor:"1,keyasint" json:"id"`
	Kind      Kind              `cbor:"2,keyasint" json:"kind"`
	Org       string            `cbor:"3,keyasint" json:"org"` // employer, or for patients the registering organization
	Roles     []Role            `cbor:"4,keyasint" json:"roles,omitempty"`
	Name      string            `cbor:"5,keyasint" json:"name,omitempty"` // display name of staff; always empty for patients
	PublicKey ed25519.PublicKey `cbor:"6,keyasint" json:"public_key"`
	Status    Status            `cbor:"7,keyasint" json:"status"`
	// KeyVersion counts rotations: 1 for the registered key.
	KeyVersion   uint32 `cbor:"8,keyasint" json:"key_version"`
	RegisteredAt int64  `cbor:"9,keyasint" json:"registered_at"` // block height
	RegisteredBy string `cbor:"10,keyasint" json:"registered_by"`
	RevokedAt    int64  `cbor:"11,keyasint" json:"revoked_at,omitempty"` // block height; 0 if active
	// EncryptionKey is the principal's own HPKE public key (seal.PublicKey).
	// Patients must have one: their record keys are always wrapped to it.
	EncryptionKey []byte `cbor:"12,keyasint,omitempty" json:"encryption_key,omitempty"`
	// NodeID is a node principal's CometBFT node ID (ValidateNodeID); empty
	// for every other kind.
	NodeID string `cbor:"13,keyasint,omitempty" json:"node_id,omitempty"`
}

// HasRole reports whether p holds role r.
func (p *Principal) HasRole(r Role) bool { return slices.Contains(p.Roles, r) }

var (
	orgIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	localIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,47}$`)
	nodeIDPattern  = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidateNodeID checks the syntax of a CometBFT node ID: the address of the
// node's p2p key, 40 lower-case hex characters. It is how CometBFT names the
// node in `id@host:port` and in the peer-filter queries the ledger answers.
func ValidateNodeID(id string) error {
	if !nodeIDPattern.MatchString(id) {
		return fmt.Errorf("node id %q: want 40 lower-case hex characters (the node's p2p key address)", id)
	}
	return nil
}

// PatientPrefix starts every patient ID.
const PatientPrefix = "patient/"

// CustodyPrefix starts the signer ID of a supply custody key
// (supply.CustodySigner), which is no principal: no organization and so
// no principal ID starts with it.
const CustodyPrefix = "custody/"

// NewPatientID is a new random patient ID: a pseudonym of 64 random bits,
// which says nothing about the patient.
func NewPatientID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return PatientPrefix + hex.EncodeToString(b)
}

// ValidateOrgID checks the syntax of an organization ID: 1-32 characters of
// lower-case letters, digits and '-'.
func ValidateOrgID(id string) error {
	if !orgIDPattern.MatchString(id) {
		return fmt.Errorf("organization id %q: want 1-32 of [a-z0-9-], starting with a letter or digit", id)
	}
	if id+"/" == PatientPrefix || id+"/" == CustodyPrefix {
		return fmt.Errorf("organization id %q is reserved", id)
	}
	return nil
}

// ValidatePrincipalID checks the syntax of a principal ID. Staff and node IDs are
// "<org>/<name>" and belong to that organization; patient IDs are
// "patient/<pseudonym>".
func ValidatePrincipalID(id string) error {
	scope, local, ok := strings.Cut(id, "/")
	if !ok || !localIDPattern.MatchString(local) {
		return fmt.Errorf("principal id %q: want <org>/<name> or patient/<pseudonym>, name 1-48 of [a-z0-9._-]", id)
	}
	if scope+"/" == PatientPrefix {
		return nil
	}
	return ValidateOrgID(scope)
}

// OrgOf returns the organization part of a staff principal ID, or "" for a patient.
func OrgOf(id string) string {
	scope, _, _ := strings.Cut(id, "/")
	if scope+"/" == PatientPrefix {
		return ""
	}
	return scope
}
