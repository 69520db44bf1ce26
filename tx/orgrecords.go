package tx

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// Organization records: FHIR resources that name no patient (schedules,
// slots, services, price catalogues), signed by a staff member of the
// organization that owns them and stored in plain on the ledger, readable
// by every member of the consortium. Anything that names a patient is a
// sealed record (RecordPut) instead.
const TypeOrgRecordPut Type = "orgrecord.put"

func init() {
	register[OrgRecordPut](TypeOrgRecordPut)
}

// OrgResourceTypes are the resource types stored as organization records,
// sorted.
var OrgResourceTypes = []string{"ChargeItemDefinition", "HealthcareService", "Schedule", "Slot"}

// IsOrgResourceType reports whether typ is stored as an organization record.
func IsOrgResourceType(typ string) bool {
	_, found := slices.BinarySearch(OrgResourceTypes, typ)
	return found
}

// OrgRecordPut writes version Version of an organization record: Resource,
// the canonical FHIR JSON of a resource of ResourceType whose id is ID, or
// a deletion (Deleted, no Resource). Version 1 creates it; the signer's
// organization owns it for good.
type OrgRecordPut struct {
	ResourceType string `cbor:"1,keyasint"`
	ID           string `cbor:"2,keyasint"`
	Version      uint64 `cbor:"3,keyasint"`
	Resource     []byte `cbor:"4,keyasint,omitempty"`
	Deleted      bool   `cbor:"5,keyasint,omitempty"`
}

// Validate implements Body: a known type, an id like a record's, and a
// resource of that type and id that refers to no patient.
func (p *OrgRecordPut) Validate() error {
	if !IsOrgResourceType(p.ResourceType) {
		return fmt.Errorf("%w: %q is not an organization resource type (%s)", ErrInvalid, p.ResourceType, strings.Join(OrgResourceTypes, ", "))
	}
	if !recordIDPattern.MatchString(p.ID) || p.Version == 0 {
		return fmt.Errorf("%w: an organization record needs an id (%s) and a version >= 1", ErrInvalid, recordIDPattern)
	}
	if p.Deleted {
		if len(p.Resource) != 0 {
			return fmt.Errorf("%w: a deletion carries no resource", ErrInvalid)
		}
		return nil
	}
	if len(p.Resource) == 0 || len(p.Resource) > carechain.MaxResourceBytes {
		return fmt.Errorf("%w: an organization record's resource must be 1 to %d bytes", ErrInvalid, carechain.MaxResourceBytes)
	}
	var res map[string]any
	if err := json.Unmarshal(p.Resource, &res); err != nil {
		return fmt.Errorf("%w: the resource is not a JSON object: %v", ErrInvalid, err)
	}
	if res["resourceType"] != p.ResourceType || res["id"] != p.ID {
		return fmt.Errorf("%w: the resource's resourceType and id must be %s and %s", ErrInvalid, p.ResourceType, p.ID)
	}
	if path := patientIn(res, p.ResourceType); path != "" {
		return fmt.Errorf("%w: %s names a patient (%s): a resource about a patient is a sealed record", ErrInvalid, p.ResourceType, path)
	}
	return nil
}

// patientIn is the path of the first place v names a patient (a reference
// to a Patient, or a contained Patient), "" if none does.
func patientIn(v any, path string) string {
	switch v := v.(type) {
	case map[string]any:
		if v["resourceType"] == "Patient" {
			return path
		}
		if ref, ok := v["reference"].(string); ok && (strings.HasPrefix(ref, "Patient/") || strings.Contains(ref, "/Patient/")) {
			return path + ".reference"
		}
		if typ, ok := v["type"].(string); ok && typ == "Patient" {
			return path + ".type"
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if p := patientIn(v[k], path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range v {
			if p := patientIn(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}
