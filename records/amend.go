package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	app := s.chain.App()
	head, err := app.Record(recordID, 0)
	if err != nil {
		return "", err
	}
	put, err := s.buildPut(author, head.Patient, head.Category, recordID, head.Latest+1, resource, nil)
	if err != nil {
		return "", err
	}
	if put.ResourceType != head.ResourceType {
		return "", fmt.Errorf("%w: record %s holds a %s, not a %s", ErrInvalid, recordID, head.ResourceType, put.ResourceType)
	}
	out, err := s.submit(ctx, author, tx.TypeAmendPropose, &tx.AmendPropose{
		Put: *put, BaseVersion: head.Latest, Reason: reason, Expires: s.now().Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	return ledgerProposalID(out), nil
}

func ledgerProposalID(out ledger.Outcome) string { return fmt.Sprintf("am-%x", out.Hash[:6]) }

// Approve approves a proposal after the signer has reviewed it (ReadProposal).
func (s *Service) Approve(ctx context.Context, signer Signer, id string) error {
	p, err := s.chain.App().Proposal(id)
	if err != nil {
		return err
	}
	_, err = s.submit(ctx, signer, tx.TypeAmendApprove, &tx.AmendApprove{ProposalID: id, ContentHash: p.ContentHash})
	return err
}

// Reject rejects a proposal, closing it.
func (s *Service) Reject(ctx context.Context, signer Signer, id, reason string) error {
	_, err := s.submit(ctx, signer, tx.TypeAmendReject, &tx.AmendReject{ProposalID: id, Reason: reason})
	return err
}

// ReadProposal decrypts a proposed version for a signer of it, its author or
// the patient, so they can review it. It is an access event like any read.
func (s *Service) ReadProposal(ctx context.Context, requester, id string) ([]byte, *ledger.Proposal, error) {
	app := s.chain.App()
	p, err := app.Proposal(id)
	if err != nil {
		return nil, nil, err
	}
	me, err := app.Principal(requester, 0)
	if err != nil {
		return nil, nil, err
	}
	ev := Event{Requester: requester, RequesterOrg: me.Org, Patient: p.Patient, Action: "review-proposal", RecordID: p.RecordID,
		Version: p.Put.Version, Category: p.Category, ResourceType: p.ResourceType, Decision: "allow", Reason: "reviews proposal " + id}
	allowed := requester == p.Author || requester == p.Patient || slices.ContainsFunc(p.Rule.Terms, func(t tx.Term) bool {
		return t.Role != "" && me.Org == t.Org && me.HasRole(t.Role)
	})
	if !allowed {
		ev.Decision, ev.Reason = "deny", "not a reviewer of proposal "+id
		s.record(ev)
		return nil, nil, &DeniedError{Reason: ev.Reason}
	}
	reader := me.Org
	if requester == p.Patient {
		reader = requester
	}
	ek, err := s.epochKey(p.Patient, p.Category, p.Put.Epoch, reader)
	if err != nil {
		if !errors.Is(err, ledger.ErrNotFound) || p.Put.NewEpoch == nil {
			return nil, nil, err
		}
		// The proposal starts an epoch that is not committed yet: its wrap
		// travels in the proposal.
		i := slices.IndexFunc(p.Put.NewEpoch.Wraps, func(w tx.KeyWrap) bool { return w.Reader == reader })
		id, ok := s.keys.get(reader)
		if i < 0 || !ok {
			return nil, nil, &DeniedError{Reason: "this node holds no key of the proposal for " + reader}
		}
		if ek, err = seal.UnwrapEpochKey(id, p.Put.NewEpoch.Wraps[i].Wrapped, p.Patient, p.Category, p.Put.Epoch); err != nil {
			return nil, nil, err
		}
	}
	plain, err := seal.Open(&seal.Sealed{Ciphertext: p.Put.Ciphertext, WrappedKey: p.Put.WrappedKey},
		seal.Binding{RecordID: p.RecordID, Version: p.Put.Version, Patient: p.Patient, Category: p.Category, Epoch: p.Put.Epoch}, ek)
	if err != nil {
		return nil, nil, err
	}
	s.record(ev)
	return plain, p, nil
}
