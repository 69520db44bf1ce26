package records

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// PutItem is one record version to write.
type PutItem struct {
	Patient, Category, RecordID string
	// Resource is the FHIR resource as JSON; it is parsed and validated
	// (once) before sealing. Parsed, if set, is used instead: a resource the
	// caller has already parsed (fhirjson.Parse), so it is not parsed again.
	Resource []byte
	Parsed   *fhirjson.Resource
	// IfMatch, if non-zero, is the version this write must follow (FHIR
	// If-Match). The ledger enforces it: the write is built as version
	// IfMatch+1, and if the record has moved on it is refused and Put
	// returns an error wrapping ErrPrecondition. Without it the write
	// follows the latest version of the call's snapshot.
	IfMatch uint64
	// Delete, if set, makes the version one that deletes RecordID (FHIR
	// delete): it holds the record's resource type and id only, and
	// Patient, Category and the resource are taken from the record.
	Delete bool
	// Blob, for a Binary, is its content (data): sealed and kept off the
	// ledger in the node's blob store, named by its hash in the version
	// (blobs.go). A Binary with content is written alone, not in a batch.
	Blob []byte
}

// PutResult is a committed record version.
type PutResult struct {
	RecordID string
	Version  uint64
	Height   int64
}

// maxEpochRetries bounds how often a write that lost an epoch race is rebuilt.
const maxEpochRetries = 3

// Put validates a FHIR R4 resource and writes it, encrypted, as the next
// version of it.RecordID (a new record if it does not exist), signed by
// author. An invalid resource is a *fhirjson.ValidationError naming the path.
// A patient author writes their own records, in carechain.CategoryPatientReported
// only (the ledger's rule), and reads the category's epoch key with their
// own encryption key, which this node's Keyring must hold.
//
// Writes that race with a new epoch of the same patient and category (one
// started by another writer) are rebuilt under the new epoch and retried;
// this node starts one epoch at a time per patient and category.
//
// A completed MedicationDispense naming serialized units first dispenses
// them in the supply chain, in a transaction of its own, and is refused,
// writing nothing, if they may not be (supplydispense.go).
func (s *Service) Put(ctx context.Context, author Signer, it PutItem) (PutResult, error) {
	end, err := s.startDispenses(ctx, s.latest(), author, []*PutItem{&it})
	if err != nil {
		return PutResult{}, err
	}
	res, err := s.putRetrying(ctx, author, it)
	end(err == nil)
	return res, err
}

// putRetrying is Put once the units it dispenses are.
func (s *Service) putRetrying(ctx context.Context, author Signer, it PutItem) (PutResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.putOnce(ctx, author, it)
		if (rejectedWith(err, ledger.CodeStaleEpoch) || rejectedWith(err, ledger.CodeBadNonce)) && attempt < maxEpochRetries {
			continue // another writer moved the epoch on, or the write was dropped: rebuild it
		}
		if rejectedWith(err, ledger.CodeStaleVersion) && it.IfMatch != 0 {
			return res, fmt.Errorf("%w: %s is no longer at version %d: %w", ErrPrecondition, it.RecordID, it.IfMatch, err)
		}
		if err == nil {
			s.indexNow(ledger.Changes{Records: []string{it.RecordID}})
		}
		return res, err
	}
}

func (s *Service) putOnce(ctx context.Context, author Signer, it PutItem) (PutResult, error) {
	v := s.latest()
	version, err := nextVersion(v, it.RecordID, it.IfMatch)
	if err != nil {
		return PutResult{}, err
	}
	if it, err = deletionOf(v, it); err != nil {
		return PutResult{}, err
	}
	unlock, err := s.lockIfNewEpoch(v, author, it.Patient, it.Category)
	if err != nil {
		return PutResult{}, err
	}
	defer unlock()
	body, err := s.buildPut(v, author, it, version, pendingEpochs{})
	if err != nil {
		s.dropBlob(body)
		return PutResult{}, err
	}
	out, err := s.submit(ctx, author, tx.TypeRecordPut, body)
	if err != nil {
		s.dropBlob(body)
		return PutResult{}, err
	}
	return PutResult{RecordID: it.RecordID, Version: version, Height: out.Height}, nil
}

// nextVersion is the version a write of recordID takes: after ifMatch if
// set, else after the record's latest in v (1 for a new record).
func nextVersion(v *ledger.View, recordID string, ifMatch uint64) (uint64, error) {
	head, err := v.Record(recordID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		if ifMatch != 0 {
			return 0, fmt.Errorf("%w: %s does not exist, If-Match %d cannot hold", ErrPrecondition, recordID, ifMatch)
		}
		return 1, nil
	case err != nil:
		return 0, err
	case ifMatch != 0 && ifMatch != head.Latest:
		return 0, fmt.Errorf("%w: %s is at version %d, not %d", ErrPrecondition, recordID, head.Latest, ifMatch)
	}
	return head.Latest + 1, nil
}

// lockIfNewEpoch takes the lock of (patient, category) when author's write
// would start a new epoch, so concurrent first writes do not all start one.
// It returns the unlock function (a no-op when no lock was taken).
func (s *Service) lockIfNewEpoch(v *ledger.View, author Signer, patient, category string) (func(), error) {
	me, err := v.Principal(author.ID)
	if err != nil {
		return nil, err
	}
	cur, err := v.Epoch(patient, category)
	if err != nil {
		return nil, err
	}
	if ok, err := writable(v, patient, category, cur, consent.ReaderOf(me)); err != nil {
		return nil, err
	} else if ok {
		return func() {}, nil
	}
	key := patient + "\x00" + category
	s.mu.Lock()
	m, ok := s.epochLocks[key]
	if !ok {
		m = &sync.Mutex{}
		s.epochLocks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock, nil
}

// writable reports whether the author, who reads through reader, may write
// into cur, the current epoch of a patient's category, without starting a
// new one: reader holds its key, and none of its readers has replaced the
// key it was wrapped to.
func writable(v *ledger.View, patient, category string, cur ledger.EpochState, reader string) (bool, error) {
	if cur.Epoch == 0 || !slices.Contains(cur.Readers, reader) {
		return false, nil
	}
	stale, err := v.EpochStale(patient, category)
	return !stale, err
}

// PreparePut validates, encrypts and signs a record.put without submitting
// it: version of recordID, with the author's nonce. It starts a new epoch when
// the author cannot read the current one (writeEpoch).
func (s *Service) PreparePut(author Signer, nonce uint64, patient, category, recordID string, version uint64, resource []byte) ([]byte, error) {
	v := s.latest()
	body, err := s.buildPut(v, author, PutItem{Patient: patient, Category: category, RecordID: recordID, Resource: resource}, version, nil)
	if err != nil {
		return nil, err
	}
	return tx.Sign(author.Key, s.chain.Latest().ChainID(), author.ID, nonce, tx.TypeRecordPut, body)
}

// pendingEpochs are epochs started earlier in the same batch: later entries
// for the same patient and category use them.
type pendingEpochs map[epochRef]seal.EpochKey

// deletionOf is it with the patient and category of its record when it
// deletes the record; it is unchanged otherwise.
func deletionOf(v *ledger.View, it PutItem) (PutItem, error) {
	if !it.Delete {
		return it, nil
	}
	head, err := v.Record(it.RecordID)
	if err != nil {
		return it, fmt.Errorf("deleting %s: %w", it.RecordID, err)
	}
	it.Patient, it.Category = head.Patient, head.Category
	return it, nil
}

// buildPut validates, canonicalizes and seals one record version.
func (s *Service) buildPut(v *ledger.View, author Signer, it PutItem, version uint64, pending pendingEpochs) (*tx.RecordPut, error) {
	if it.Delete {
		return s.buildDelete(v, author, it, version, pending)
	}
	res := it.Parsed
	if res == nil {
		var err error
		if res, err = s.validator.Parse(it.Resource); err != nil {
			return nil, err
		}
	}
	canonical := res.Canonical()
	if err := checkCapture(v, it.Patient, version, canonical); err != nil { // capture.go
		clear(canonical)
		return nil, err
	}
	body, err := s.sealPut(v, author, it, res.Type(), version, canonical, pending)
	if err == nil {
		err = plainFacts(body, res)
	}
	if err == nil {
		err = s.orderFacts(v, author, body, res, pending) // orders.go
	}
	return body, err
}

// sealPut encrypts canonical as a version of a record of type rtype.
func (s *Service) sealPut(v *ledger.View, author Signer, it PutItem, rtype string, version uint64, canonical []byte, pending pendingEpochs) (*tx.RecordPut, error) {
	defer clear(canonical)
	if len(canonical) > carechain.MaxResourceBytes {
		return nil, carechain.E(carechain.KindTooLarge, fmt.Errorf("%s is %d bytes in canonical form, over the %d byte limit", rtype, len(canonical), carechain.MaxResourceBytes))
	}
	if p, err := v.Principal(it.Patient); err != nil || p.Kind != carechain.KindPatient {
		return nil, fmt.Errorf("%w: %s is not a registered patient", ErrInvalid, it.Patient)
	}
	me, err := v.Principal(author.ID)
	if err != nil {
		return nil, err
	}
	body := &tx.RecordPut{RecordID: it.RecordID, Version: version, Patient: it.Patient, Category: it.Category, ResourceType: rtype}
	ek, err := s.writeEpoch(v, body, consent.ReaderOf(me), pending)
	if err != nil {
		return nil, err
	}
	if rtype == MessageType { // sealed to its parties only (messages.go)
		if err := s.sealMessage(v, me, body, canonical); err != nil {
			return nil, err
		}
	} else if s.bypass.Off() {
		body.Ciphertext, body.WrappedKey = bypassSeal(canonical)
	} else {
		sealed, err := seal.Seal(canonical, seal.Binding{RecordID: it.RecordID, Version: version, Patient: it.Patient, Category: it.Category, Epoch: body.Epoch}, ek)
		if err != nil {
			return nil, err
		}
		body.Ciphertext, body.WrappedKey = sealed.Ciphertext, sealed.WrappedKey
	}
	if it.Blob != nil { // a Binary's content, kept off the ledger (blobs.go)
		if err := s.sealBlob(body, it.Blob, ek); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(body.Ciphertext)
	body.CiphertextHash = sum[:]
	return body, nil
}

// writeEpoch picks the epoch body is written under and returns its key: one
// started earlier in the same batch, the current one if author (the reader
// the author reads through: their organization, or a patient themselves,
// with their own key in the Keyring) can read it, or a new one (set in
// body.NewEpoch) wrapped to everyone who must read it.
func (s *Service) writeEpoch(v *ledger.View, body *tx.RecordPut, author string, pending pendingEpochs) (seal.EpochKey, error) {
	patient, category := body.Patient, body.Category
	cur, err := v.Epoch(patient, category)
	if err != nil {
		return seal.EpochKey{}, err
	}
	if k, ok := pending[epochRef{patient, category, cur.Epoch + 1}]; ok {
		body.Epoch = cur.Epoch + 1
		return k, nil
	}
	if ok, err := writable(v, patient, category, cur, author); err != nil {
		return seal.EpochKey{}, err
	} else if ok {
		body.Epoch = cur.Epoch
		return s.epochKey(v, patient, category, cur.Epoch, author)
	}
	readers, err := v.NextEpochReaders(patient, category, author, s.now().Unix())
	if err != nil {
		return seal.EpochKey{}, err
	}
	body.Epoch = cur.Epoch + 1
	ek, ne, err := s.newEpoch(v, patient, category, body.Epoch, readers)
	if err != nil {
		return ek, err
	}
	body.NewEpoch = ne
	// The key is not cached here: the transaction may yet be rejected
	// (another writer may start this epoch first). Once committed, it is
	// unwrapped from the ledger like any other.
	if pending != nil {
		pending[epochRef{patient, category, body.Epoch}] = ek
	}
	return ek, nil
}

// Delete writes a version that deletes the record (its resource type and id
// only): reads of the record then report it gone; earlier versions stay
// readable to those allowed.
func (s *Service) Delete(ctx context.Context, author Signer, recordID string) (PutResult, error) {
	return s.Put(ctx, author, PutItem{RecordID: recordID, Delete: true})
}

// buildDelete seals the version of it (a deletion, see deletionOf) that
// deletes its record.
func (s *Service) buildDelete(v *ledger.View, author Signer, it PutItem, version uint64, pending pendingEpochs) (*tx.RecordPut, error) {
	head, err := v.Record(it.RecordID)
	if err != nil {
		return nil, fmt.Errorf("deleting %s: %w", it.RecordID, err)
	}
	if head.ResourceType == MessageType {
		return nil, fmt.Errorf("%w: a message is not deleted: it stays readable to its parties", ErrInvalid)
	}
	stub, err := json.Marshal(map[string]string{"resourceType": head.ResourceType, "id": it.RecordID})
	if err != nil {
		return nil, err
	}
	body, err := s.sealPut(v, author, it, head.ResourceType, version, stub, pending)
	if err != nil {
		return nil, err
	}
	body.Deleted = true
	if head.ResourceType == "ServiceRequest" && head.Owner != author.ID { // a patient's own is no order
		err = s.closeOrder(v, body) // orders.go
	}
	return body, err
}

// PutBatch writes several record versions in one transaction: all of them
// are committed, or none. An invalid resource fails the batch before
// anything is submitted; the error names the entry.
func (s *Service) PutBatch(ctx context.Context, author Signer, items []PutItem) ([]PutResult, error) {
	v := s.latest()
	items = slices.Clone(items) // planDispenses keeps each parse in its item
	ptrs := make([]*PutItem, len(items))
	for i := range items {
		ptrs[i] = &items[i]
	}
	end, err := s.startDispenses(ctx, v, author, ptrs)
	if err != nil {
		return nil, err
	}
	out, err := s.putBatch(ctx, author, items)
	end(err == nil)
	return out, err
}

// putBatch is PutBatch once the units it dispenses are.
func (s *Service) putBatch(ctx context.Context, author Signer, items []PutItem) ([]PutResult, error) {
	v := s.latest()
	versions := map[string]uint64{}
	pending := pendingEpochs{}
	body := &tx.RecordBatch{}
	out := make([]PutResult, len(items))
	for i, it := range items {
		if it.Blob != nil {
			return nil, fmt.Errorf("%w: entry %d: a Binary with content is written alone, not in a batch", ErrInvalid, i)
		}
		ver, ok := versions[it.RecordID]
		if !ok {
			var err error
			if ver, err = nextVersion(v, it.RecordID, it.IfMatch); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
		} else {
			ver++
		}
		versions[it.RecordID] = ver
		it, err := deletionOf(v, it)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		p, err := s.buildPut(v, author, it, ver, pending)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		body.Puts = append(body.Puts, *p)
		out[i] = PutResult{RecordID: it.RecordID, Version: ver}
	}
	res, err := s.submit(ctx, author, tx.TypeRecordBatch, body)
	if rejectedWith(err, ledger.CodeStaleVersion) && slices.ContainsFunc(items, func(it PutItem) bool { return it.IfMatch != 0 }) {
		return nil, fmt.Errorf("%w: a record moved on from its If-Match version: %w", ErrPrecondition, err)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i := range out {
		out[i].Height = res.Height
		ids[i] = items[i].RecordID
	}
	s.indexNow(ledger.Changes{Records: ids})
	return out, nil
}
