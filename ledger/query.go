package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
)

// Queries read committed state. height 0 means the last committed height; a
// height above it is an error (store.ErrFutureHeight).

// Height returns the last committed height.
func (a *App) Height() (int64, error) {
	c, err := a.store.LastCommit()
	return c.Height, err
}

// LastCommit returns the last committed height and app hash.
func (a *App) LastCommit() (store.Commit, error) { return a.store.LastCommit() }

// AppHash returns the app hash committed at height.
func (a *App) AppHash(height int64) ([]byte, error) { return a.store.AppHash(height) }

func (a *App) view(height int64) (heightView, error) {
	last, err := a.store.LastCommit()
	if err != nil {
		return heightView{}, err
	}
	if height == 0 {
		height = last.Height
	}
	if height < 0 || height > last.Height {
		return heightView{}, fmt.Errorf("%w: asked for %d, last committed %d", store.ErrFutureHeight, height, last.Height)
	}
	return heightView{s: a.store, height: height}, nil
}

// Principal returns a principal as of height.
func (a *App) Principal(id string, height int64) (*carechain.Principal, error) {
	v, err := a.view(height)
	if err != nil {
		return nil, err
	}
	p, err := getPrincipal(v, id)
	if err != nil {
		return nil, fmt.Errorf("principal %q at height %d: %w", id, v.height, err)
	}
	return p, nil
}

// Principals lists principals as of height, by ID. A non-empty org keeps only its members.
func (a *App) Principals(org string, height int64) ([]carechain.Principal, error) {
	ps, err := scanAt[carechain.Principal](a, principalKey(""), height)
	if org != "" {
		ps = slices.DeleteFunc(ps, func(p carechain.Principal) bool { return p.Org != org })
	}
	return ps, err
}

// Organizations lists organizations as of height, by ID.
func (a *App) Organizations(height int64) ([]carechain.Organization, error) {
	return scanAt[carechain.Organization](a, orgKey(""), height)
}

// NextNonce returns the lowest nonce a new transaction of signer may use, as of the last commit.
func (a *App) NextNonce(signer string) (uint64, error) {
	v, err := a.view(0)
	if err != nil {
		return 0, err
	}
	n, err := getNonce(v, signer)
	return n + 1, err
}

// Tx returns what the ledger recorded of a committed, accepted transaction.
func (a *App) Tx(hash [32]byte) (*TxStatus, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	var st TxStatus
	if err := getCBOR(v, txKey(hash), &st); err != nil {
		return nil, fmt.Errorf("tx %X: %w", hash, err)
	}
	return &st, nil
}

// scanAt decodes every value under prefix as of height (0: latest).
func scanAt[T any](a *App, prefix string, height int64) ([]T, error) {
	v, err := a.view(height)
	if err != nil {
		return nil, err
	}
	return scanValues[T](v, prefix)
}

// Record returns a record's head as of height.
func (a *App) Record(id string, height int64) (*RecordHead, error) {
	v, err := a.view(height)
	if err != nil {
		return nil, err
	}
	var h RecordHead
	if err := getCBOR(v, recordKey(id), &h); err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	return &h, nil
}

// RecordVersion returns one version of a record (0: the latest).
func (a *App) RecordVersion(id string, version uint64) (*RecordVersion, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		var h RecordHead
		if err := getCBOR(v, recordKey(id), &h); err != nil {
			return nil, fmt.Errorf("record %s: %w", id, err)
		}
		version = h.Latest
	}
	var rv RecordVersion
	if err := getCBOR(v, versionKey(id, version), &rv); err != nil {
		return nil, fmt.Errorf("record %s version %d: %w", id, version, err)
	}
	return &rv, nil
}

// VerifiedRecordVersion returns a version (0: latest) only if its stored
// value is exactly what the Merkle log committed to: a node serves no record
// whose data was altered after commit.
func (a *App) VerifiedRecordVersion(id string, version uint64) (*RecordVersion, error) {
	rv, err := a.RecordVersion(id, version)
	if err != nil {
		return nil, err
	}
	_, leaf, content, err := a.LogEntry(tlog.KindRecord, RecordLogKey(rv.RecordID, rv.Version))
	if err != nil {
		return nil, fmt.Errorf("record %s version %d has no log entry: %w", id, rv.Version, err)
	}
	latest, err := a.store.Get(versionKey(rv.RecordID, rv.Version), 0)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tlog.ContentHash(content), leaf.ContentHash) || !bytes.Equal(latest, content) {
		return nil, fmt.Errorf("%w: record %s version %d does not match its Merkle log leaf", ErrTampered, id, rv.Version)
	}
	return rv, nil
}

// ErrTampered is returned for stored data that no longer matches what was committed.
var ErrTampered = errors.New("stored data was altered")

// RecordVersions lists every version of a record, oldest first.
func (a *App) RecordVersions(id string) ([]RecordVersion, error) {
	out, err := scanAt[RecordVersion](a, "version/"+id+"/", 0)
	if err == nil && len(out) == 0 {
		return nil, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	return out, err
}

// PatientRecords lists the heads of a patient's records, by record ID.
func (a *App) PatientRecords(patient string) ([]RecordHead, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	var out []RecordHead
	prefix := "patient-record/" + patient + "/"
	err = scanKeys(v, prefix, func(key string) {
		var h RecordHead
		if getCBOR(v, recordKey(strings.TrimPrefix(key, prefix)), &h) == nil {
			out = append(out, h)
		}
	})
	return out, err
}

// Grants lists a patient's grants (emergency grants included), by ID.
func (a *App) Grants(patient string) ([]StoredGrant, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	return grantsOf(v, patient)
}

// Epoch returns the current epoch of a patient's category.
func (a *App) Epoch(patient, category string) (EpochState, error) {
	v, err := a.view(0)
	if err != nil {
		return EpochState{}, err
	}
	return getEpoch(v, patient, category)
}

// Wrap returns the epoch key of a patient's category wrapped to reader.
func (a *App) Wrap(patient, category string, epoch uint32, reader string) ([]byte, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	w, err := v.Get(wrapKey(patient, category, epoch, reader))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no key of %s/%s epoch %d for %s: %w", patient, category, epoch, reader, ErrNotFound)
	}
	return w, err
}

// EncryptionKey returns the HPKE public key of a reader (patient or organization).
func (a *App) EncryptionKey(reader string) ([]byte, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	return readerKey(v, reader)
}

// RequiredReaders is who must hold the key of a patient's category at time now.
func (a *App) RequiredReaders(patient, category string, now int64) ([]string, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	return requiredReaders(v, patient, category, now)
}

// EscrowOrgs are the organizations a patient's emergency rule admits for a category.
func (a *App) EscrowOrgs(patient, category string) ([]string, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	return escrowOrgs(v, patient, category)
}

// Organization returns an organization at the latest height.
func (a *App) Organization(id string) (*carechain.Organization, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	return getOrg(v, id)
}

// AuditEntries lists a patient's anchored access events, newest first.
func (a *App) AuditEntries(patient string) ([]AuditEntry, error) {
	out, err := scanAt[AuditEntry](a, "audit/"+patient+"/", 0)
	slices.Reverse(out)
	return out, err
}

// Categories returns the record categories of this chain.
func (a *App) Categories() ([]string, error) {
	v, err := a.view(0)
	if err != nil {
		return nil, err
	}
	var cats []string
	return cats, getCBOR(v, categoriesKey, &cats)
}
