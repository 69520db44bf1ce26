package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// SetPolicy sets an organization's approval rule (signed by its admin).
func (s *Service) SetPolicy(ctx context.Context, admin Signer, p tx.AmendPolicy) error {
	_, err := s.submit(ctx, admin, tx.TypeAmendPolicy, &p)
	return err
}

// Propose proposes resource as the next version of recordID, to be committed
// when the signers of the record owner's policy approve. It returns the
// proposal's ID.
func (s *Service) Propose(ctx context.Context, author Signer, recordID string, resource []byte, reason string, ttl time.Duration) (string, error) {
	v := s.latest()
	head, err := v.Record(recordID)
	if err != nil {
		return "", err
	}
	it := PutItem{Patient: head.Patient, Category: head.Category, RecordID: recordID, Resource: resource}
	put, err := s.buildPut(v, author, it, head.Latest+1, nil)
	if err != nil {
		return "", err
	}
	if put.ResourceType != head.ResourceType {
		return "", fmt.Errorf("%w: record %s holds a %s, not a %s", ErrInvalid, recordID, head.ResourceType, put.ResourceType)
	}
	me, err := v.Principal(author.ID)
	if err != nil {
		return "", err
	}
	sealed, err := s.sealReason(v, put, me.Org, "reason", reason)
	if err != nil {
		return "", err
	}
	out, err := s.submit(ctx, author, tx.TypeAmendPropose, &tx.AmendPropose{
		Put: *put, BaseVersion: head.Latest, SealedReason: sealed, Expires: s.now().Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	return ledger.ProposalID(out.Hash), nil
}

// Approve approves a proposal after the signer has reviewed it (ReadProposal).
func (s *Service) Approve(ctx context.Context, signer Signer, id string) error {
	v := s.latest()
	p, err := v.Proposal(id)
	if err != nil {
		return err
	}
	_, err = s.submit(ctx, signer, tx.TypeAmendApprove, &tx.AmendApprove{ProposalID: id, ContentHash: p.ContentHash})
	return err
}

// Reject rejects a proposal, closing it. The reason is sealed like the proposal's.
func (s *Service) Reject(ctx context.Context, signer Signer, id, reason string) error {
	v := s.latest()
	p, err := v.Proposal(id)
	if err != nil {
		return err
	}
	me, err := v.Principal(signer.ID)
	if err != nil {
		return err
	}
	reader := consent.ReaderOf(me)
	body := &tx.AmendReject{ProposalID: id}
	if reason != "" {
		if body.SealedReason, err = s.sealReason(v, &p.Put, reader, "reject-reason", reason); err != nil {
			return err
		}
	}
	_, err = s.submit(ctx, signer, tx.TypeAmendReject, body)
	return err
}

// proposalEpochKey is the key a proposed version is sealed under, as reader
// holds it: from the ledger, or, for an epoch the proposal itself starts,
// from the proposal's own wraps.
func (s *Service) proposalEpochKey(v *ledger.View, put *tx.RecordPut, reader string) (seal.EpochKey, error) {
	ek, err := s.epochKey(v, put.Patient, put.Category, put.Epoch, reader)
	if err == nil || !errors.Is(err, ledger.ErrNotFound) || put.NewEpoch == nil {
		return ek, err
	}
	i := slices.IndexFunc(put.NewEpoch.Wraps, func(w tx.KeyWrap) bool { return w.Reader == reader })
	id, ok := s.keys.identity(reader)
	if i < 0 || !ok {
		return ek, &DeniedError{Reason: "this node holds no key of the proposal for " + reader}
	}
	return seal.UnwrapEpochKey(id, put.NewEpoch.Wraps[i].Wrapped, put.Patient, put.Category, put.Epoch)
}

// sealReason encrypts a proposal's reason under the proposed version's epoch
// key, so exactly the record's readers (the reviewers among them) can read it.
func (s *Service) sealReason(v *ledger.View, put *tx.RecordPut, reader, label, text string) ([]byte, error) {
	ek, err := s.proposalEpochKey(v, put, reader)
	if err != nil {
		return nil, err
	}
	sl, err := seal.Seal([]byte(text), s.reasonBinding(put, label), ek)
	if err != nil {
		return nil, err
	}
	return tx.Marshal(sl)
}

func (s *Service) openReason(put *tx.RecordPut, ek seal.EpochKey, label string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	var sl seal.Sealed
	if err := tx.Unmarshal(sealed, &sl); err != nil {
		return "", err
	}
	b, err := seal.Open(&sl, s.reasonBinding(put, label), ek)
	return string(b), err
}

func (s *Service) reasonBinding(put *tx.RecordPut, label string) seal.Binding {
	return seal.Binding{RecordID: put.RecordID + "#" + label, Version: put.Version, Patient: put.Patient, Category: put.Category, Epoch: put.Epoch}
}

// Review is a decrypted proposal.
type Review struct {
	Proposal    *ledger.Proposal
	Resource    []byte // the proposed FHIR resource
	Reason      string // why it was proposed
	CloseReason string // why it was rejected, if it was
}

// ReadProposal decrypts a proposed version for a signer of it, its author or
// the patient (ledger.Proposal.Reviewable), so they can review it. It is an
// access event like any read; to anyone else the proposal is ErrNotVisible,
// the answer for one that does not exist.
func (s *Service) ReadProposal(ctx context.Context, requester, id string) (*Review, error) {
	v := s.latest()
	p, err := v.Proposal(id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, ErrNotVisible
	} else if err != nil {
		return nil, err
	}
	me, err := v.Principal(requester)
	if err != nil {
		return nil, err
	}
	ev := Event{Requester: requester, RequesterOrg: me.Org, Patient: p.Patient, Action: "review-proposal", RecordID: p.RecordID,
		Version: p.Put.Version, Category: p.Category, ResourceType: p.ResourceType, Decision: carechain.DecisionAllow, Reason: "reviews proposal " + id}
	if !p.Reviewable(me) {
		s.refused(ctx, v, ev, "not a reviewer of proposal "+id)
		return nil, ErrNotVisible // as if absent: a proposal names a patient, a record and a category
	}
	if why := s.logBehind(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrLogUnavailable, why)
	}
	ek, err := s.proposalEpochKey(v, &p.Put, consent.ReaderOf(me))
	if err != nil {
		return nil, err
	}
	plain, err := seal.Open(&seal.Sealed{Ciphertext: p.Put.Ciphertext, WrappedKey: p.Put.WrappedKey},
		seal.Binding{RecordID: p.RecordID, Version: p.Put.Version, Patient: p.Patient, Category: p.Category, Epoch: p.Put.Epoch}, ek)
	if err != nil {
		return nil, err
	}
	rv := &Review{Proposal: p, Resource: plain}
	if rv.Reason, err = s.openReason(&p.Put, ek, "reason", p.SealedReason); err != nil {
		return nil, err
	}
	if rv.CloseReason, err = s.openReason(&p.Put, ek, "reject-reason", p.SealedCloseReason); err != nil {
		return nil, err
	}
	if err := s.record(ctx, v, ev); err != nil {
		return nil, err
	}
	return rv, nil
}
