package ledger

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/smt"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// View reads committed state as of one height. A request takes one View and
// asks it everything, so all its answers describe the same state: a FHIR
// create that checks the patient, the author, the epoch and its readers
// checks them at one height, not at whatever height each read happened to
// see. A View is cheap (a store and a height) and safe for concurrent use;
// it reads only what was committed, so it never changes.
type View struct {
	heightView
	chainID string
	// mapNodes is the App's cache of the supply map's top levels (nil:
	// none); it answers for any height (smt.Cache).
	mapNodes *smt.Cache
}

// View returns the state as of height (0: the last committed height). A
// height above the last committed one is an error (store.ErrFutureHeight).
func (a *App) View(height int64) (*View, error) {
	last, err := a.store.LastCommit()
	if err != nil {
		return nil, err
	}
	if height == 0 {
		height = last.Height
	}
	if height < 0 || height > last.Height {
		return nil, fmt.Errorf("%w: asked for %d, last committed %d", store.ErrFutureHeight, height, last.Height)
	}
	return &View{heightView{s: a.store, height: height}, a.chainID, a.mapNodes}, nil
}

// Latest returns the state as of the last committed height: what a
// request that does not name a height reads.
func (a *App) Latest() *View {
	return &View{heightView{s: a.store, height: a.store.LastHeight()}, a.chainID, a.mapNodes}
}

// NewView returns the state of chain chainID as of height, read from r.
func NewView(r StateReader, height int64, chainID string) *View {
	return &View{heightView: heightView{s: r, height: height}, chainID: chainID}
}

// Height returns the last committed height.
func (a *App) Height() (int64, error) {
	c, err := a.store.LastCommit()
	return c.Height, err
}

// LastCommit returns the last committed height and app hash.
func (a *App) LastCommit() (store.Commit, error) { return a.store.LastCommit() }

// AppHash returns the app hash committed at height.
func (a *App) AppHash(height int64) ([]byte, error) { return a.store.AppHash(height) }

// Height is the height v reads at.
func (v *View) Height() int64 { return v.height }

// ChainID is the chain v belongs to.
func (v *View) ChainID() string { return v.chainID }

// At returns the state at an earlier height h (0 < h <= v.Height()).
func (v *View) At(h int64) (*View, error) {
	if h <= 0 || h > v.height {
		return nil, fmt.Errorf("%w: asked for %d from a view at %d", store.ErrFutureHeight, h, v.height)
	}
	return &View{heightView{s: v.s, height: h}, v.chainID, v.mapNodes}, nil
}

// Principal returns a principal.
func (v *View) Principal(id string) (*carechain.Principal, error) {
	p, err := getPrincipal(v, id)
	if err != nil {
		return nil, fmt.Errorf("principal %q at height %d: %w", id, v.height, err)
	}
	return p, nil
}

// Principals lists principals by ID. A non-empty org keeps only its members.
func (v *View) Principals(org string) ([]carechain.Principal, error) {
	ps, err := scanValues[carechain.Principal](v, principalKey(""))
	if org != "" {
		ps = slices.DeleteFunc(ps, func(p carechain.Principal) bool { return p.Org != org })
	}
	return ps, err
}

// Organizations lists organizations by ID.
func (v *View) Organizations() ([]carechain.Organization, error) {
	return scanValues[carechain.Organization](v, orgKey(""))
}

// Organization returns an organization.
func (v *View) Organization(id string) (*carechain.Organization, error) { return getOrg(v, id) }

// NextNonce returns the lowest nonce a new transaction of signer may use.
func (v *View) NextNonce(signer string) (uint64, error) {
	n, err := getNonce(v, signer)
	return n + 1, err
}

// Tx returns what the ledger recorded of a committed, accepted transaction.
func (v *View) Tx(hash [32]byte) (*TxStatus, error) {
	var st TxStatus
	if err := getCBOR(v, txKey(hash), &st); err != nil {
		return nil, fmt.Errorf("tx %X: %w", hash, err)
	}
	return &st, nil
}

// Record returns a record's head.
func (v *View) Record(id string) (*carechain.RecordHead, error) {
	var h carechain.RecordHead
	if err := getCBOR(v, recordKey(id), &h); err != nil {
		return nil, fmt.Errorf("record %s: %w", id, err)
	}
	return &h, nil
}

// RecordVersion returns one version of a record (0: the latest).
func (v *View) RecordVersion(id string, version uint64) (*carechain.RecordVersion, error) {
	if version == 0 {
		h, err := v.Record(id)
		if err != nil {
			return nil, err
		}
		version = h.Latest
	}
	var rv carechain.RecordVersion
	if err := getCBOR(v, versionKey(id, version), &rv); err != nil {
		return nil, fmt.Errorf("record %s version %d: %w", id, version, err)
	}
	return &rv, nil
}

// VerifiedRecordVersion returns a version (0: latest) only if its stored
// value is exactly what the Merkle log committed to: a node serves no record
// whose data was altered after commit.
func (v *View) VerifiedRecordVersion(id string, version uint64) (*carechain.RecordVersion, error) {
	if version == 0 {
		h, err := v.Record(id)
		if err != nil {
			return nil, err
		}
		version = h.Latest
	}
	_, leaf, content, err := v.LogEntry(tlog.KindRecord, RecordLogKey(id, version))
	if errors.Is(err, ErrNotFound) {
		if _, err := v.Get(versionKey(id, version)); err != nil { // no such version: say so, as RecordVersion does
			return nil, fmt.Errorf("record %s version %d: %w", id, version, ErrNotFound)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("record %s version %d has no log entry: %w", id, version, err)
	}
	current, err := v.Get(versionKey(id, version))
	if err != nil {
		return nil, fmt.Errorf("record %s version %d: %w", id, version, err)
	}
	if !bytes.Equal(tlog.ContentHash(content), leaf.ContentHash) || !bytes.Equal(current, content) {
		return nil, fmt.Errorf("%w: record %s version %d does not match its Merkle log leaf", ErrTampered, id, version)
	}
	var rv carechain.RecordVersion
	if err := unmarshalState(current, &rv); err != nil {
		return nil, fmt.Errorf("record %s version %d: %w", id, version, err)
	}
	return &rv, nil
}

// ErrTampered is returned for stored data that no longer matches what was committed.
var ErrTampered = errors.New("stored data was altered")

// RecordVersions lists every version of a record, oldest first.
func (v *View) RecordVersions(id string) ([]carechain.RecordVersion, error) {
	out, err := scanValues[carechain.RecordVersion](v, "version/"+id+"/")
	if err == nil && len(out) == 0 {
		return nil, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	return out, err
}

// PatientRecords lists the heads of a patient's records, by record ID.
func (v *View) PatientRecords(patient string) ([]carechain.RecordHead, error) {
	var out []carechain.RecordHead
	prefix := "patient-record/" + patient + "/"
	err := scanKeys(v, prefix, func(key string) {
		var h carechain.RecordHead
		if getCBOR(v, recordKey(strings.TrimPrefix(key, prefix)), &h) == nil {
			out = append(out, h)
		}
	})
	return out, err
}

// Grants lists a patient's grants (emergency grants included), by ID.
func (v *View) Grants(patient string) (Grants, error) { return grantsOf(v, patient) }

// Epoch returns the current epoch of a patient's category.
func (v *View) Epoch(patient, category string) (EpochState, error) {
	return getEpoch(v, patient, category)
}

// Wrap returns the epoch key of a patient's category wrapped to reader.
func (v *View) Wrap(patient, category string, epoch uint32, reader string) ([]byte, error) {
	w, err := v.Get(wrapKey(patient, category, epoch, reader))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no key of %s/%s epoch %d for %s: %w", patient, category, epoch, reader, ErrNotFound)
	}
	return w, err
}

// EncryptionKey returns the HPKE public key of a reader (patient or organization).
func (v *View) EncryptionKey(reader string) ([]byte, error) { return readerKey(v, reader) }

// ReaderOf names the reader that holds a grantee's keys (consent.Grantee.Reader).
func (v *View) ReaderOf(g consent.Grantee) (string, error) {
	r, err := readerOf(v, g)
	if err != nil {
		return "", fmt.Errorf("grantee %s: %w", cmp.Or(g.Principal, g.Org), err)
	}
	return r, nil
}

// RequiredReaders is who must hold the key of a patient's category at time now.
func (v *View) RequiredReaders(patient, category string, now int64) ([]string, error) {
	return requiredReaders(v, patient, category, now)
}

// NextEpochReaders returns who the next epoch of a patient's category must
// be wrapped to when a write by author (a reader: an organization, or a
// patient with their own key) starts it at time now, as the ledger judges
// it.
func (v *View) NextEpochReaders(patient, category, author string, now int64) ([]string, error) {
	cur, err := getEpoch(v, patient, category)
	if err != nil {
		return nil, fmt.Errorf("epoch of %s/%s at height %d: %w", patient, category, v.height, err)
	}
	rs, err := nextEpochReaders(v, patient, category, author, now, cur)
	if err != nil {
		return nil, fmt.Errorf("next epoch readers of %s/%s at height %d: %w", patient, category, v.height, err)
	}
	return rs, nil
}

// ReadersWithout is who must hold the key of a patient's category at time
// now once w is gone: what the ledger will require of the rotation that a
// revocation or a delegate's removal must carry.
func (v *View) ReadersWithout(patient, category string, now int64, w Without) ([]string, error) {
	return readersWithout(v, patient, category, now, w)
}

// EscrowOrgs are the organizations a patient's emergency rule admits for a category.
func (v *View) EscrowOrgs(patient, category string) ([]string, error) {
	return escrowOrgs(v, patient, category)
}

// AuditBatch returns an anchored batch of access events by its key
// (AuditEntry.Batch).
func (v *View) AuditBatch(key string) (*AuditBatch, error) {
	var b AuditBatch
	if err := getCBOR(v, key, &b); err != nil {
		return nil, fmt.Errorf("audit batch %s: %w", key, err)
	}
	return &b, nil
}

// AuditEntries lists a patient's anchored access events, newest first.
func (v *View) AuditEntries(patient string) ([]AuditEntry, error) {
	out, err := scanValues[AuditEntry](v, "audit/"+patient+"/")
	slices.Reverse(out)
	return out, err
}

// RolePolicy is org's role policy in force; ErrNotFound if it has none. On
// a chain not yet migrated to role policies it is the default the migration
// will set, as version 0 (rolePolicyState).
func (v *View) RolePolicy(org string) (*RolePolicyState, error) { return rolePolicyState(v, org) }

// RolePolicyInForce is the policy of RolePolicy, or nil if org has none:
// what consent.Evaluator.Decide takes.
func (v *View) RolePolicyInForce(org string) (*consent.RolePolicy, error) {
	return rolePolicyOf(v, org)
}

// Categories returns the record categories of this chain.
func (v *View) Categories() ([]string, error) {
	var cats []string
	return cats, getCBOR(v, categoriesKey, &cats)
}

// Proposal returns a proposal.
func (v *View) Proposal(id string) (*Proposal, error) {
	var p Proposal
	if err := getCBOR(v, proposalKey(id), &p); err != nil {
		return nil, fmt.Errorf("proposal %s: %w", id, err)
	}
	return &p, nil
}

// Proposals lists proposals by ID.
func (v *View) Proposals() ([]Proposal, error) {
	return scanValues[Proposal](v, "proposal/")
}

// Waiting lists the open proposals that signer could approve at unix
// time now (a term may require a credential valid then).
func (v *View) Waiting(signer *carechain.Principal, now int64) ([]Proposal, error) {
	all, err := v.Proposals()
	if err != nil {
		return nil, err
	}
	var out []Proposal
	for _, p := range all {
		if p.Status != ProposalOpen || slices.ContainsFunc(p.Approvals, func(ap Approval) bool { return ap.Signer == signer.ID }) {
			continue
		}
		if slices.ContainsFunc(p.Rule.Terms, func(t tx.Term) bool { return satisfies(v, now, t, signer, &p) }) {
			out = append(out, p)
		}
	}
	return out, nil
}

// LogEntry finds the log entry (kind, key) and the state value it commits to,
// as of the height it was committed at.
func (v *View) LogEntry(kind, key string) (uint64, *tlog.Leaf, []byte, error) {
	index, leaf, err := theLog.Find(v, kind, key)
	if err != nil {
		if errors.Is(err, tlog.ErrNotFound) {
			err = fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return 0, nil, nil, err
	}
	content, err := v.s.GetAt(leaf.StateKey, leaf.Height)
	if errors.Is(err, store.ErrNotFound) {
		content, err = nil, nil // a deletion
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("content of %s %s: %w", kind, key, err)
	}
	return index, leaf, content, nil
}

// EntrySubject is whom a log entry concerns, for deciding who may see it.
type EntrySubject struct {
	// Patient is the patient a record version, consent or access event
	// entry concerns; "" for identity (and amendment) entries.
	Patient string
	// Version is the record version a record entry commits to.
	Version *carechain.RecordVersion
}

// LogEntrySubject returns whom the log entry (kind, key) concerns; an
// absent entry is ErrNotFound.
func (v *View) LogEntrySubject(kind, key string) (EntrySubject, error) {
	_, leaf, content, err := v.LogEntry(kind, key)
	if err != nil {
		return EntrySubject{}, err
	}
	switch kind {
	case tlog.KindRecord:
		var rv carechain.RecordVersion
		if err := tx.Unmarshal(content, &rv); err != nil {
			return EntrySubject{}, fmt.Errorf("record entry %s: %w", key, err)
		}
		return EntrySubject{Patient: rv.Patient, Version: &rv}, nil
	case tlog.KindConsent, tlog.KindAudit, tlog.KindIdentity:
		// A patient's identity entries concern the patient; staff's concern no patient.
		return EntrySubject{Patient: patientOfStateKey(leaf.StateKey)}, nil
	}
	return EntrySubject{}, nil
}

// patientOfStateKey is the patient in a state key that starts with one:
// "<prefix>/patient/<pseudonym>[/…]" (grantKey, delegateKey, emergencyKey,
// auditKey). A patient ID holds exactly one "/" (ValidatePrincipalID).
func patientOfStateKey(key string) string {
	_, rest, _ := strings.Cut(key, "/")
	scope, rest, _ := strings.Cut(rest, "/")
	local, _, _ := strings.Cut(rest, "/")
	if scope+"/" != carechain.PatientPrefix || local == "" {
		return ""
	}
	return scope + "/" + local
}

// InclusionProof proves log entry index in the log of size.
func (v *View) InclusionProof(index, size uint64) ([][]byte, error) {
	return theLog.InclusionProof(v, index, size)
}

// ConsistencyProof proves the log of size1 is a prefix of the log of size2.
func (v *View) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	return theLog.ConsistencyProof(v, size1, size2)
}

// Delegates are the people patient named to manage their consents, in ID
// order.
func (v *View) Delegates(patient string) ([]string, error) {
	prefix := delegateKey(patient, "")
	var out []string
	err := scanKeys(v, prefix, func(k string) { out = append(out, strings.TrimPrefix(k, prefix)) })
	return out, err
}

// ActsFor reports whether signer manages patient's consents: the patient,
// or a delegate the patient named (the rule the ledger applies to consent
// transactions).
func (v *View) ActsFor(signer *carechain.Principal, patient string) bool {
	return actsFor(v, signer, patient) == nil
}

// EmergencyRule returns a patient's break-glass rule; ErrNotFound if they
// set none.
func (v *View) EmergencyRule(patient string) (*consent.EmergencyRule, error) {
	var rule consent.EmergencyRule
	if err := getCBOR(v, emergencyKey(patient), &rule); err != nil {
		return nil, fmt.Errorf("emergency rule of %s: %w", patient, err)
	}
	return &rule, nil
}

// LogLeaf returns the Merkle log's leaf at index.
func (v *View) LogLeaf(index uint64) (*tlog.Leaf, error) { return theLog.Leaf(v, index) }

// ValueAt returns the value key was given at exactly height h (at most the
// view's height): what a log leaf of that height commits to.
func (v *View) ValueAt(key string, h int64) ([]byte, error) {
	if h <= 0 || h > v.height {
		return nil, fmt.Errorf("%w: asked for %d from a view at %d", store.ErrFutureHeight, h, v.height)
	}
	return v.s.GetAt(key, h)
}

// GrantByID returns the grant id, of whichever patient. It scans every
// patient's grants (a grant is stored under its patient), so it costs a
// read of all grants: for reads by id, not for loops.
func (v *View) GrantByID(id string) (*StoredGrant, error) {
	var found *StoredGrant
	err := v.Scan("grant/", func(key string, val []byte) error {
		if found != nil || !strings.HasSuffix(key, "/"+id) {
			return nil
		}
		var g StoredGrant
		if err := unmarshalState(val, &g); err != nil {
			return err
		}
		if g.ID == id {
			found = &g
		}
		return nil
	})
	if err == nil && found == nil {
		err = fmt.Errorf("grant %s: %w", id, ErrNotFound)
	}
	return found, err
}
