package records

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"slices"
	"strings"

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
// What is indexed, and when:
//   - a record version written through this node by a member of staff is
//     indexed for the author's organization (Put, PutBatch); a new version
//     replaces the record's tokens, a deletion removes them;
//   - a read grant made through this node to an organization this node
//     serves indexes the patient's records that organization can decrypt;
//   - a revocation made through this node removes the patient's entries of
//     the revoked organization, but for the records it wrote itself, unless
//     it still holds another live read grant.
//
// Grants and revocations made through another node, and records written
// through another node of the organization, reach this node's index only
// by a rebuild (RebuildIndex: carechain start runs it when the index is
// empty). The index only narrows candidates: a search reads every
// candidate through the consented read path (decrypt, consent check,
// access event), drops what the requester may not read and checks the
// decrypted resource against the whole search; a stale entry costs a
// read, never a wrong answer. Indexing decrypts with the organization's
// key inside the node and logs no access event: no one is served anything.
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

// indexWrite indexes a version author wrote through this node, for the
// author's organization. A failure is logged, not returned: the version
// is committed, and the index only narrows searches.
func (s *Service) indexWrite(author string, it PutItem) {
	if s.index == nil {
		return
	}
	v := s.latest()
	h, err := v.Record(it.RecordID)
	if err != nil || !indexedType(h.ResourceType) {
		return // other types have no terms: no index write
	}
	p, err := v.Principal(author)
	if err != nil || p.Kind == carechain.KindPatient {
		return
	}
	key, ok := s.searchKey(p.Org)
	if !ok {
		return
	}
	var terms []IndexTerm
	if !it.Delete {
		res := it.Resource
		if it.Parsed != nil {
			res = it.Parsed.Canonical()
		}
		terms = resourceTerms(res)
	}
	if err := s.setTerms(key, p.Org, h.Patient, it.RecordID, terms); err != nil {
		s.log.Warn("search index: a written record was not indexed", "record", it.RecordID, "err", err)
	}
}

// indexPatient replaces org's entries of patient by the patient's records
// keep selects that org can decrypt on this node.
func (s *Service) indexPatient(org, patient string, keep func(*carechain.RecordHead) bool) error {
	if s.index == nil {
		return nil
	}
	key, ok := s.searchKey(org)
	if !ok {
		return nil
	}
	if err := s.index.RemovePrefix(indexMember(org, patient, "")); err != nil {
		return err
	}
	v := s.latest()
	heads, err := v.PatientRecords(patient)
	if err != nil {
		return err
	}
	for i := range heads {
		h := &heads[i]
		if h.Deleted || !indexedType(h.ResourceType) || !keep(h) {
			continue
		}
		rv, err := v.VerifiedRecordVersion(h.RecordID, 0)
		if err != nil {
			continue
		}
		ek, err := s.epochKey(v, patient, rv.Category, rv.Epoch, org)
		if err != nil {
			continue // org holds no key of this version
		}
		plain, err := seal.Open(&seal.Sealed{Ciphertext: rv.Ciphertext, WrappedKey: rv.WrappedKey},
			seal.Binding{RecordID: rv.RecordID, Version: rv.Version, Patient: rv.Patient, Category: rv.Category, Epoch: rv.Epoch}, ek)
		if err != nil {
			continue
		}
		terms := resourceTerms(plain)
		clear(plain)
		if err := s.setTerms(key, org, patient, h.RecordID, terms); err != nil {
			return err
		}
	}
	return nil
}

// indexGranted indexes, after a read grant to reader, the patient's records
// reader can now decrypt, if reader is an organization this node serves.
func (s *Service) indexGranted(reader, patient string) {
	if s.index == nil {
		return
	}
	if err := s.indexPatient(reader, patient, func(*carechain.RecordHead) bool { return true }); err != nil {
		s.log.Warn("search index: a grant's records were not indexed", "err", err)
	}
}

// indexRevoked removes, after a revocation of reader's grant, the patient's
// entries of reader but for the records reader's organization wrote, unless
// reader still holds a live read grant of the patient.
func (s *Service) indexRevoked(reader, patient string) {
	if s.index == nil {
		return
	}
	keep := func(h *carechain.RecordHead) bool { return h.Owner == reader }
	if stillReads(s.latest(), reader, patient, s.now().Unix()) {
		keep = func(*carechain.RecordHead) bool { return true }
	}
	if err := s.indexPatient(reader, patient, keep); err != nil {
		s.log.Warn("search index: a revoked grant's entries were not removed", "err", err)
	}
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
// of, every Patient and Observation it can decrypt, patient by patient,
// until ctx ends; it returns how many patients it went through. carechain
// start runs it when the node's index is empty (new, or lost), so records
// written and grants made through other nodes are found too; no access
// event is logged, as nothing is served.
func (s *Service) RebuildIndex(ctx context.Context) (int, error) {
	if s.index == nil {
		return 0, nil
	}
	v := s.latest()
	orgs, err := v.Organizations()
	if err != nil {
		return 0, err
	}
	patients, err := v.Principals("")
	if err != nil {
		return 0, err
	}
	done := 0
	for _, o := range orgs {
		if _, ok := s.searchKey(o.ID); !ok {
			continue
		}
		for _, p := range patients {
			if ctx.Err() != nil {
				return done, ctx.Err()
			}
			if p.Kind != carechain.KindPatient {
				continue
			}
			if err := s.indexPatient(o.ID, p.ID, func(*carechain.RecordHead) bool { return true }); err != nil {
				return done, err
			}
			done++
		}
	}
	return done, nil
}
