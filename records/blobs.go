package records

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Binaries: contents too large for the ledger (images, ImagingStudy
// instances), kept off it. A Binary is a record like any other, of
// resource type Binary, sealed in its patient's category (imaging, for an
// ImagingStudy's): its sealed resource holds the Binary's metadata
// (contentType, securityContext), never its data. The data is sealed
// apart (seal.SealBlob) under the same epoch key, bound to the same
// record version, and stored in the node's blob store (store.Blobs),
// named by the SHA-256 of the sealed bytes. The record version names that
// hash and size on the ledger (carechain.BlobRef), and nothing else of it.
//
// Reading a Binary is reading its record (consent, role policy, access
// log), then its blob: fetched from another node if this one lacks it
// (BlobSource), checked against the ledger's hash, then opened with the
// epoch key. A copy that does not match is never served.

// BinaryType is the FHIR resource type of a record whose content is a blob.
const BinaryType = "Binary"

// BlobSource fetches sealed blobs from other nodes (the signed node API's
// GET /v1/blobs/{hash}). Whatever it returns is checked against the
// ledger's hash before it is kept.
type BlobSource interface {
	FetchBlob(ctx context.Context, hash []byte, size int64) ([]byte, error)
}

// ErrBlobAltered is a blob whose stored copy does not match the ledger's
// hash: it is refused, never served, and moved aside so that a good copy
// can be fetched from another node.
var ErrBlobAltered = carechain.NewError(carechain.KindInternal, "the stored copy of the Binary's content does not match the hash on the ledger: refusing to serve altered data")

// ErrBlobUnavailable is a blob this node does not hold and could not fetch.
var ErrBlobUnavailable = carechain.NewError(carechain.KindUnavailable, "the Binary's content is not on this node and no other node gave a copy that matches the ledger's hash; retry later")

// sealBlob seals content, the data of a Binary version, under ek, stores
// it in the blob store and names it in body.
func (s *Service) sealBlob(body *tx.RecordPut, content []byte, ek seal.EpochKey) error {
	switch {
	case body.ResourceType != BinaryType:
		return fmt.Errorf("%w: only a Binary carries content kept off the ledger", ErrInvalid)
	case s.blobs == nil:
		return carechain.E(carechain.KindUnavailable, errors.New("this node keeps no blob store: it takes no Binary content"))
	case len(content) == 0:
		return carechain.E(carechain.KindMalformed, errors.New("a Binary needs content (data)"))
	case len(content) > carechain.MaxBlobBytes:
		return carechain.E(carechain.KindTooLarge, fmt.Errorf("the Binary's content is %d bytes, over the %d byte limit", len(content), carechain.MaxBlobBytes))
	}
	sealed, err := seal.SealBlob(content, blobBinding(body.RecordID, body.Version, body.Patient, body.Category, body.Epoch), ek)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(sealed)
	if err := s.blobs.Put(sum[:], sealed); err != nil {
		return err
	}
	body.Blob = &carechain.BlobRef{Hash: sum[:], Size: int64(len(sealed))}
	return nil
}

func blobBinding(recordID string, version uint64, patient, category string, epoch uint32) seal.Binding {
	return seal.Binding{RecordID: recordID, Version: version, Patient: patient, Category: category, Epoch: epoch}
}

// dropBlob removes the blob a write named that did not commit.
func (s *Service) dropBlob(body *tx.RecordPut) {
	if body != nil && body.Blob != nil && s.blobs != nil {
		if err := s.blobs.Remove(body.Blob.Hash); err != nil {
			s.log.Warn("removing the blob of a write that did not commit", "err", err)
		}
	}
}

// ReadBinary reads version (0: latest) of Binary record id for requester
// as Read does (consent, role policy, the access log), and then its
// content, checked against the hash on the ledger. A deleted version comes
// back with no content.
func (s *Service) ReadBinary(ctx context.Context, requester, id string, version uint64, purpose consent.Purpose) (*Record, []byte, error) {
	rec, err := s.Read(ctx, requester, id, version, purpose)
	if err != nil || rec.Deleted {
		return rec, nil, err
	}
	if rec.ResourceType != BinaryType || rec.Blob == nil {
		return rec, nil, fmt.Errorf("%w: %s is not a Binary with content", ErrNotVisible, id)
	}
	v := s.latest()
	p, err := v.Principal(requester)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := s.blob(ctx, v, rec.Blob)
	if err != nil {
		return nil, nil, fmt.Errorf("Binary/%s: %w", id, err)
	}
	ek, err := s.epochKey(v, rec.Patient, rec.Category, rec.Epoch, consent.ReaderOf(p))
	if err != nil {
		return nil, nil, &DeniedError{Reason: err.Error()}
	}
	content, err := seal.OpenBlob(sealed, blobBinding(rec.RecordID, rec.Version, rec.Patient, rec.Category, rec.Epoch), ek)
	if err != nil {
		return nil, nil, fmt.Errorf("Binary/%s: %w: %w", id, ErrBlobAltered, err)
	}
	return rec, content, nil
}

// blob is the sealed blob ref names, checked against its hash: this
// node's copy, or one fetched from another node (and kept).
func (s *Service) blob(ctx context.Context, v *ledger.View, ref *carechain.BlobRef) ([]byte, error) {
	if s.blobs == nil {
		return nil, ErrBlobUnavailable
	}
	sealed, err := s.blobs.Get(ref.Hash)
	switch {
	case errors.Is(err, store.ErrBlobAltered):
		s.log.Error("a stored blob was altered: refused and moved aside", "blob", fmt.Sprintf("%x", ref.Hash))
		return nil, fmt.Errorf("%w (%w)", ErrBlobAltered, err)
	case errors.Is(err, store.ErrNotFound):
		return s.fetchBlob(ctx, ref)
	}
	return sealed, err
}

// fetchBlob gets the blob ref names from another node, checks it and
// keeps it.
func (s *Service) fetchBlob(ctx context.Context, ref *carechain.BlobRef) ([]byte, error) {
	if s.blobPeers == nil {
		return nil, ErrBlobUnavailable
	}
	sealed, err := s.blobPeers.FetchBlob(ctx, ref.Hash, ref.Size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlobUnavailable, err)
	}
	if int64(len(sealed)) != ref.Size {
		return nil, fmt.Errorf("%w: a peer gave %d bytes, the ledger says %d", ErrBlobUnavailable, len(sealed), ref.Size)
	}
	if err := s.blobs.Put(ref.Hash, sealed); err != nil { // checks the hash
		return nil, fmt.Errorf("%w: %w", ErrBlobUnavailable, err)
	}
	return sealed, nil
}

// SealedBlob is this node's copy of a blob named on the ledger, checked
// against its hash: what it gives other nodes (nodeapi's GET
// /v1/blobs/{hash}). It never asks another node.
func (s *Service) SealedBlob(hash []byte) ([]byte, error) {
	if _, err := s.latest().Blob(hash); err != nil {
		return nil, fmt.Errorf("blob %x: %w", hash, ErrNotVisible)
	}
	if s.blobs == nil {
		return nil, fmt.Errorf("blob %x: %w", hash, ErrNotVisible)
	}
	sealed, err := s.blobs.Get(hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("blob %x: %w", hash, ErrNotVisible)
	}
	return sealed, err
}

// ReplicateBlobs fetches, once, every blob named on the ledger that this
// node lacks, and returns how many it fetched; the first error ends the
// pass only for that blob.
func (s *Service) ReplicateBlobs(ctx context.Context) (int, error) {
	if s.blobs == nil || s.blobPeers == nil {
		return 0, nil
	}
	entries, err := s.latest().Blobs()
	if err != nil {
		return 0, err
	}
	fetched := 0
	var first error
	for _, e := range entries {
		if ctx.Err() != nil {
			return fetched, ctx.Err()
		}
		if s.blobs.Has(e.Hash) {
			continue
		}
		if _, err := s.fetchBlob(ctx, &carechain.BlobRef{Hash: e.Hash, Size: e.Size}); err != nil {
			first = cmp.Or(first, fmt.Errorf("blob %x of %s: %w", e.Hash, e.RecordID, err))
			continue
		}
		fetched++
	}
	return fetched, first
}

// RunReplication calls ReplicateBlobs every interval until ctx is done,
// so that every blob on the ledger soon has a copy here too: losing the
// node that took it loses nothing.
func (s *Service) RunReplication(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.ReplicateBlobs(ctx)
		if n > 0 {
			s.log.Info("blobs replicated", "count", n)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("blob replication: some blobs are not here yet", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
