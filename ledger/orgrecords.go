package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Organization record rules: an active practitioner or admin of an
// organization writes its organization records (tx.OrgResourceTypes: what
// names no patient), in plain, one version after another. The first
// version's signer's organization owns the record for good: another
// organization can neither write nor delete it, and its id is never reused
// by another. Every member of the consortium reads them (View.OrgRecord,
// View.OrgRecords). Each version is a leaf of the Merkle log, so it can be
// proved like a health record's.

func init() {
	handle(tx.TypeOrgRecordPut, (*App).applyOrgRecordPut)
}

// OrgRecordHead is an organization record's latest state, stored at
// "orgrecord/<type>/<id>".
type OrgRecordHead struct {
	ResourceType string `cbor:"1,keyasint"`
	ID           string `cbor:"2,keyasint"`
	Org          string `cbor:"3,keyasint"`
	Latest       uint64 `cbor:"4,keyasint"`
	Deleted      bool   `cbor:"5,keyasint,omitempty"`
}

// OrgRecordVersion is one version of an organization record, stored at
// "orgrecord-version/<type>/<id>/<version>".
type OrgRecordVersion struct {
	ResourceType string `cbor:"1,keyasint"`
	ID           string `cbor:"2,keyasint"`
	Org          string `cbor:"3,keyasint"`
	Version      uint64 `cbor:"4,keyasint"`
	// Resource is the canonical FHIR JSON; none for a deletion.
	Resource []byte `cbor:"5,keyasint,omitempty"`
	Deleted  bool   `cbor:"6,keyasint,omitempty"`
	Author   string `cbor:"7,keyasint"`
	Height   int64  `cbor:"8,keyasint"`
	// Time is the block time, unix seconds (meta.lastUpdated).
	Time int64 `cbor:"9,keyasint"`
}

func orgRecordKey(typ, id string) string { return "orgrecord/" + typ + "/" + id }

func orgRecordVersionKey(typ, id string, version uint64) string {
	return fmt.Sprintf("orgrecord-version/%s/%s/%020d", typ, id, version)
}

// OrgRecordLogKey names an organization record version in the Merkle log.
func OrgRecordLogKey(typ, id string, version uint64) string {
	return fmt.Sprintf("%s/%s/%d", typ, id, version)
}

// OrgRecord returns an organization record's head (ErrNotFound if none).
func (v *View) OrgRecord(typ, id string) (*OrgRecordHead, error) {
	var h OrgRecordHead
	if err := getCBOR(v, orgRecordKey(typ, id), &h); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", typ, id, err)
	}
	return &h, nil
}

// OrgRecords lists the heads of the organization records of typ, by id.
func (v *View) OrgRecords(typ string) ([]OrgRecordHead, error) {
	return scanValues[OrgRecordHead](v, orgRecordKey(typ, ""))
}

// OrgRecordVersion returns one version (0: the latest) of an organization
// record.
func (v *View) OrgRecordVersion(typ, id string, version uint64) (*OrgRecordVersion, error) {
	if version == 0 {
		h, err := v.OrgRecord(typ, id)
		if err != nil {
			return nil, err
		}
		version = h.Latest
	}
	var rv OrgRecordVersion
	if err := getCBOR(v, orgRecordVersionKey(typ, id, version), &rv); err != nil {
		return nil, fmt.Errorf("%s/%s version %d: %w", typ, id, version, err)
	}
	return &rv, nil
}

// OrgRecordVersions lists every version of an organization record, oldest
// first (ErrNotFound if it has none).
func (v *View) OrgRecordVersions(typ, id string) ([]OrgRecordVersion, error) {
	out, err := scanValues[OrgRecordVersion](v, "orgrecord-version/"+typ+"/"+id+"/")
	if err == nil && len(out) == 0 {
		return nil, fmt.Errorf("%s/%s: %w", typ, id, ErrNotFound)
	}
	return out, err
}

func (a *App) applyOrgRecordPut(b *store.Block, c *checked, p *tx.OrgRecordPut) *Rejection {
	s := c.signer
	if s.Kind != carechain.KindPractitioner && s.Kind != carechain.KindAdmin {
		return reject(CodeUnauthorized, "%q may not write organization records: only an organization's practitioners and admins may", s.ID)
	}
	var head OrgRecordHead
	err := getCBOR(b, orgRecordKey(p.ResourceType, p.ID), &head)
	switch {
	case errors.Is(err, ErrNotFound):
		if p.Version != 1 || p.Deleted {
			return reject(CodeStaleVersion, "%s/%s does not exist: its first version is a create, version 1", p.ResourceType, p.ID)
		}
		head = OrgRecordHead{ResourceType: p.ResourceType, ID: p.ID, Org: s.Org}
	case err != nil:
		return reject(CodeInternal, "%v", err)
	case head.Org != s.Org:
		return reject(CodeUnauthorized, "%s/%s belongs to %q: %q may not change it", p.ResourceType, p.ID, head.Org, s.ID)
	case p.Version != head.Latest+1:
		return reject(CodeStaleVersion, "%s/%s is at version %d: write version %d", p.ResourceType, p.ID, head.Latest, head.Latest+1)
	case p.Deleted && head.Deleted:
		return reject(CodeConflict, "%s/%s is already deleted", p.ResourceType, p.ID)
	}
	if p.ResourceType == "Slot" {
		if rej := keepsBooking(b, p); rej != nil {
			return rej
		}
	}
	rv := OrgRecordVersion{ResourceType: p.ResourceType, ID: p.ID, Org: head.Org, Version: p.Version, Resource: p.Resource,
		Deleted: p.Deleted, Author: s.ID, Height: b.Height(), Time: c.now}
	if err := putOrgVersion(b, head, rv); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// putOrgVersion writes rv as the latest version of head's record.
func putOrgVersion(b *store.Block, head OrgRecordHead, rv OrgRecordVersion) error {
	head.Latest, head.Deleted = rv.Version, rv.Deleted
	if _, err := setEncoded(b, orgRecordKey(rv.ResourceType, rv.ID), &head); err != nil {
		return err
	}
	logKey := OrgRecordLogKey(rv.ResourceType, rv.ID, rv.Version)
	return setLogged(b, orgRecordVersionKey(rv.ResourceType, rv.ID, rv.Version), &rv, tlog.KindOrgRecord, logKey)
}
