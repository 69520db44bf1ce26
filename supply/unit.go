package supply

import (
	"fmt"
	"time"

	"github.com/carechain/carechain"
)

// Kind is what a product is.
type Kind string

// Product kinds.
const (
	KindDrug   Kind = "drug"
	KindDevice Kind = "device"
)

// Product is a registered product: plain, public catalogue data (not
// health data), owned by the manufacturer that registered it.
type Product struct {
	GTIN     string `cbor:"1,keyasint" json:"gtin"`
	Name     string `cbor:"2,keyasint" json:"name"`
	Form     string `cbor:"3,keyasint" json:"form,omitempty"`
	Strength string `cbor:"4,keyasint" json:"strength,omitempty"`
	Kind     Kind   `cbor:"5,keyasint" json:"kind"`
	Owner    string `cbor:"6,keyasint" json:"owner"` // the manufacturer organization
	Height   int64  `cbor:"7,keyasint" json:"height"`
	// Private: its units are held by custody keys, not organizations
	// (custody.go).
	Private bool `cbor:"8,keyasint,omitempty" json:"private,omitempty"`
}

// Status is where a unit is in its life.
type Status string

// Unit statuses as stored (Stored), and as seen (Effective) once its lot's
// recall, suspicion and expiry are taken into account.
const (
	StatusUnknown        Status = "unknown" // no unit with this commitment was commissioned
	StatusActive         Status = "active"  // held by its custodian, sellable
	StatusInTransit      Status = "in-transit"
	StatusDispensed      Status = "dispensed"
	StatusDecommissioned Status = "decommissioned"
	StatusSuspect        Status = "suspect"      // flagged, under investigation: quarantined
	StatusIllegitimate   Status = "illegitimate" // the manufacturer confirmed the suspicion
	StatusRecalled       Status = "recalled"
	StatusExpired        Status = "expired"
)

// Suspicion is the state of a flag on a unit or a lot.
type Suspicion string

// Suspicion states: none, flagged, confirmed by the manufacturer (a
// manufacturer's clearing returns it to none).
const (
	SuspicionNone      Suspicion = ""
	SuspicionFlagged   Suspicion = "suspect"
	SuspicionConfirmed Suspicion = "illegitimate"
)

// Unit is a commissioned serialized unit, known by its commitment.
type Unit struct {
	Lot       string    `cbor:"1,keyasint" json:"lot"`
	Custodian string    `cbor:"2,keyasint" json:"custodian"`              // organization holding (or shipping) it
	To        string    `cbor:"3,keyasint,omitempty" json:"to,omitempty"` // receiver of a pending shipment
	Status    Status    `cbor:"4,keyasint" json:"status"`                 // active, in-transit, dispensed or decommissioned
	Suspicion Suspicion `cbor:"5,keyasint,omitempty" json:"suspicion,omitempty"`
	Height    int64     `cbor:"6,keyasint" json:"height"` // of its last change
	// Case is the commitment of the case or pallet the unit is packed in
	// (CaseCommitment); none while it is loose.
	Case []byte `cbor:"7,keyasint,omitempty" json:"case,omitempty"`
	// Custody is the public key holding a unit of a private product
	// (custody.go), whose Custodian and To stay empty; Claim, while it is
	// in transit, the public key its receiver claims it with.
	Custody []byte `cbor:"8,keyasint,omitempty" json:"custody,omitempty"`
	Claim   []byte `cbor:"9,keyasint,omitempty" json:"claim,omitempty"`
}

// Lot is a commissioned lot of a product: its expiry (plain: expiry and
// recall rules need it), a recall and a suspicion on the whole lot.
type Lot struct {
	Expiry       string    `cbor:"1,keyasint" json:"expiry"` // YYYY-MM-DD
	Units        uint64    `cbor:"2,keyasint" json:"units"`  // commissioned
	Recalled     bool      `cbor:"3,keyasint,omitempty" json:"recalled,omitempty"`
	RecallReason string    `cbor:"4,keyasint,omitempty" json:"recall_reason,omitempty"`
	Suspicion    Suspicion `cbor:"5,keyasint,omitempty" json:"suspicion,omitempty"`
}

// Effective is the status of u in lot at now, the first that applies of:
// dispensed or decommissioned (out of the chain), illegitimate, recalled,
// suspect (quarantined), expired, then its stored status.
func Effective(u Unit, lot Lot, now time.Time) Status {
	switch {
	case u.Status == StatusDispensed || u.Status == StatusDecommissioned:
		return u.Status
	case u.Suspicion == SuspicionConfirmed || lot.Suspicion == SuspicionConfirmed:
		return StatusIllegitimate
	case lot.Recalled:
		return StatusRecalled
	case u.Suspicion == SuspicionFlagged || lot.Suspicion == SuspicionFlagged:
		return StatusSuspect
	case Expired(lot.Expiry, now):
		return StatusExpired
	}
	return u.Status
}

// Why explains a status that stops a sale or a dispense, for a refusal.
func Why(st Status, u Unit, lot Lot) string {
	switch st {
	case StatusDispensed:
		return "the unit was already dispensed"
	case StatusDecommissioned:
		return "the unit was decommissioned"
	case StatusIllegitimate:
		return "the unit is illegitimate: its manufacturer confirmed it is not genuine"
	case StatusRecalled:
		return fmt.Sprintf("lot %s is recalled (%s)", u.Lot, lot.RecallReason)
	case StatusSuspect:
		return "the unit is suspect: quarantined until its manufacturer confirms or clears it"
	case StatusExpired:
		return fmt.Sprintf("the unit expired on %s", lot.Expiry)
	case StatusInTransit:
		if u.To == "" {
			return "the unit is in transit: its receiver claims it first"
		}
		return fmt.Sprintf("the unit is in transit to %s", u.To)
	case StatusUnknown:
		return "no unit with this serial was commissioned"
	}
	return "the unit is " + string(st)
}

// Staff reports whether p acts for its organization in the supply chain:
// its admin, a supply officer, or a pharmacist.
func Staff(p *carechain.Principal) bool {
	return p.Status == carechain.StatusActive && (p.Kind == carechain.KindAdmin || p.Kind == carechain.KindPractitioner &&
		(p.HasRole(carechain.RoleSupplyOfficer) || p.HasRole(carechain.RolePharmacist)))
}
