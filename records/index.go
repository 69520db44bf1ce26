package records

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
)

// The blind search index: how a practitioner finds patients (by
// identifier, name, birthdate) and records across the patients they may
// read, without plaintext at rest.
//
// Each organization served by this node has a search key, derived with
// HKDF-SHA256 from the oldest encryption key of the organization the
// node holds (searchKey): every node of the organization that unlocks its
// keys derives the same key, it survives restarts, and a rotation keeps
// it (rotated keys are kept, see keys.go). A search value becomes a token
// HMAC-SHA256(search key, type "." param ‖ 0x00 ‖ normalized value)
// (indexterms.go normalizes); the node's store.Index (its own Pebble
// database, HOME/search-index, never on the ledger) maps each token to
// the records (org, patient, record ID) having that value.
//
// What is indexed: for each organization served, each live Patient and
// Observation (indexedType) the organization can decrypt and may find:
// it created the record, wrote its latest version, or holds a live read
// grant of the patient (indexRecord). A new version replaces the record's
// tokens; a deletion, or a revocation that leaves the organization no
// grant, removes them. The index follows every committed block, whoever
// submitted it (RunIndex, indexfollow.go).
//
// The index only narrows candidates: a search reads every candidate
// through the consented read path (decrypt, consent check, access event),
// drops what the requester may not read and checks the decrypted resource
// against the whole search; a stale entry (a grant that expired with time
// rather than by a block) costs a read, never a wrong answer. Indexing
// decrypts with the organization's key inside the node and logs no access
// event: no one is served anything.
//
// What the index leaks to whoever reads the node's disk: which records of
// one organization share a value of a parameter (equality), and how many
// do (frequency), not the values; and, in plaintext, which patients and
// record IDs are indexed, as the ledger shows anyway.

// ErrNoIndex is a search across patients on a node that keeps no search
// index for the requester's organization.
var ErrNoIndex = carechain.NewError(carechain.KindInvalid, "no search index")

// ErrTooBroad is a search across patients whose every indexed parameter
// matches more than MaxIndexCandidates records.
var ErrTooBroad = carechain.NewError(carechain.KindInvalid, "search too broad")

// MaxIndexCandidates bounds the records one search across patients reads
// (each one is decrypted and consent-checked before it is returned).
const MaxIndexCandidates = 1000

// searchKeyInfo is the HKDF info of search keys: "v1" so that a change of
// the token format can derive new keys and rebuild.
const searchKeyInfo = "carechain blind search index v1\x00"

// Indexed reports whether the service keeps a search index.
func (s *Service) Indexed() bool { return s.index != nil }

// searchKey is org's search key, if this node holds org's keys.
func (s *Service) searchKey(org string) ([]byte, bool) {
	if org == "" || strings.HasPrefix(org, carechain.PatientPrefix) {
		return nil, false
	}
	if _, ok := s.keys.identity(org); !ok {
		return nil, false
	}
	held := s.keys.held(org)
	seed := held[len(held)-1].Bytes() // the oldest: rotations keep it
	defer clear(seed)
	k, err := hkdf.Key(sha256.New, seed, nil, searchKeyInfo+org, sha256.Size)
	return k, err == nil
}

// indexToken is the token of term under key.
func indexToken(key []byte, t IndexTerm) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t.Type + "." + t.Param))
	m.Write([]byte{0})
	m.Write([]byte(t.Value))
	return m.Sum(nil)
}

// indexMember names a record of a patient indexed for org.
func indexMember(org, patient, recordID string) []byte {
	return []byte(org + "\x00" + patient + "\x00" + recordID)
}

// setTerms makes terms the indexed terms of a record for org.
func (s *Service) setTerms(key []byte, org, patient, recordID string, terms []IndexTerm) error {
	tokens := make([][]byte, len(terms))
	for i, t := range terms {
		tokens[i] = indexToken(key, t)
	}
	return s.index.Replace(indexMember(org, patient, recordID), tokens)
}

// servedOrg is an organization this node keeps a search index for.
type servedOrg struct {
	id  string
	key []byte // its search key
}

// servedOrgs returns the organizations of v this node holds the keys of.
func (s *Service) servedOrgs(v *ledger.View) ([]servedOrg, error) {
	orgs, err := v.Organizations()
	if err != nil {
		return nil, err
	}
	var out []servedOrg
	for _, o := range orgs {
		if key, ok := s.searchKey(o.ID); ok {
			out = append(out, servedOrg{id: o.ID, key: key})
		}
	}
	return out, nil
}

// indexRecord makes org's entry of the record h the terms of its latest
// version, if org may find it there: the record is live, of an indexed
// type, org can decrypt it, and org created it, wrote its latest version
// or holds a live read grant of the patient (reads says, and is asked
// only when needed). Otherwise it removes org's entry.
func (s *Service) indexRecord(v *ledger.View, org servedOrg, h *carechain.RecordHead, reads func() bool) error {
	member := indexMember(org.id, h.Patient, h.RecordID)
	if h.Deleted || !indexedType(h.ResourceType) {
		return s.index.Replace(member, nil)
	}
	rv, err := v.VerifiedRecordVersion(h.RecordID, 0)
	if err != nil {
		return s.index.Replace(member, nil)
	}
	if h.Owner != org.id && rv.AuthorOrg != org.id && !reads() {
		return s.index.Replace(member, nil)
	}
	ek, err := s.epochKey(v, h.Patient, rv.Category, rv.Epoch, org.id)
	if err != nil {
		return s.index.Replace(member, nil) // org holds no key of this version
	}
	plain, err := seal.Open(&seal.Sealed{Ciphertext: rv.Ciphertext, WrappedKey: rv.WrappedKey},
		seal.Binding{RecordID: rv.RecordID, Version: rv.Version, Patient: rv.Patient, Category: rv.Category, Epoch: rv.Epoch}, ek)
	if err != nil {
		return s.index.Replace(member, nil)
	}
	terms := resourceTerms(plain)
	clear(plain)
	return s.setTerms(org.key, org.id, h.Patient, h.RecordID, terms)
}

// indexPatient makes org's entries of patient those indexRecord keeps of
// the patient's records.
func (s *Service) indexPatient(v *ledger.View, org servedOrg, patient string) error {
	if err := s.index.RemovePrefix(indexMember(org.id, patient, "")); err != nil {
		return err
	}
	heads, err := v.PatientRecords(patient)
	if err != nil {
		return err
	}
	reads := s.readsOnce(v, org.id, patient)
	for i := range heads {
		if heads[i].Deleted || !indexedType(heads[i].ResourceType) {
			continue
		}
		if err := s.indexRecord(v, org, &heads[i], reads); err != nil {
			return err
		}
	}
	return nil
}

// readsOnce returns a function that reports, asking v once, whether org
// holds a live read grant of patient.
func (s *Service) readsOnce(v *ledger.View, org, patient string) func() bool {
	return sync.OnceValue(func() bool { return stillReads(v, org, patient, s.now().Unix()) })
}

// stillReads reports whether reader holds a live read grant of patient in v.
func stillReads(v *ledger.View, reader, patient string, now int64) bool {
	grants, err := v.Grants(patient)
	if err != nil {
		return true // keep the entries: the consent check still applies
	}
	return slices.ContainsFunc(grants.Plain(), func(g consent.Grant) bool {
		rd, err := v.ReaderOf(g.Grantee)
		return err == nil && rd == reader && !g.Revoked && (g.NotAfter == 0 || g.NotAfter > now) &&
			slices.Contains(g.Actions, consent.ActionRead)
	})
}

// indexedType reports whether records of typ have index terms.
func indexedType(typ string) bool { return IndexedParams(typ) != nil }

// RebuildIndex indexes, for every organization this node holds the keys
// of, every patient's records it can find (indexRecord), patient by
// patient, until ctx ends; it returns how many patients it went through.
// RunIndex runs it when the index is new, lost or of an older format; no access event is
// logged, as nothing is served.
func (s *Service) RebuildIndex(ctx context.Context) (int, error) {
	if s.index == nil {
		return 0, nil
	}
	v := s.latest()
	patients, err := v.Principals("")
	if err != nil {
		return 0, err
	}
	done := 0
	for _, p := range patients {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		if p.Kind != carechain.KindPatient {
			continue
		}
		if err := s.reindex(ledger.Changes{Patients: []string{p.ID}}, 0); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
