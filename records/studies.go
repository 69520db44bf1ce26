package records

import (
	"context"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// RegisterStudy submits a study.register signed by signer, the sponsor
// organization's admin, as `carechain study register` does.
func (s *Service) RegisterStudy(ctx context.Context, signer Signer, r tx.StudyRegister) error {
	if err := r.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, signer, tx.TypeStudyRegister, &r); err != nil {
		return fmt.Errorf("register study %s: %w", r.ID, err)
	}
	return nil
}

// AmendStudy submits a study.amend signed by signer, the sponsor's admin,
// as `carechain study amend` does.
func (s *Service) AmendStudy(ctx context.Context, signer Signer, a tx.StudyAmend) error {
	if err := a.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, signer, tx.TypeStudyAmend, &a); err != nil {
		return fmt.Errorf("amend study %s: %w", a.Study, err)
	}
	return nil
}

// DecideStudy submits a study.decide signed by signer, the ethics board's
// admin, as `carechain study decide` does.
func (s *Service) DecideStudy(ctx context.Context, signer Signer, d tx.StudyDecide) error {
	if err := d.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, signer, tx.TypeStudyDecide, &d); err != nil {
		return fmt.Errorf("decide amendment %d of study %s: %w", d.Version, d.Study, err)
	}
	return nil
}

// CommitStudySeed submits a study.randomization signed by signer, the
// sponsor's admin, committing seedHash (the SHA-256 of the randomization
// seed), as `carechain study randomize` does.
func (s *Service) CommitStudySeed(ctx context.Context, signer Signer, studyID string, seedHash []byte) error {
	r := tx.StudyRandomization{Study: studyID, SeedHash: seedHash}
	if err := r.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, signer, tx.TypeStudyRandomization, &r); err != nil {
		return fmt.Errorf("commit the randomization seed of study %s: %w", studyID, err)
	}
	return nil
}

// LockStudy submits a study.lock signed by signer, the sponsor's admin,
// committing a dataset's Merkle root, as `carechain study lock` does.
func (s *Service) LockStudy(ctx context.Context, signer Signer, l tx.StudyLock) error {
	if err := l.Validate(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	if _, err := s.submit(ctx, signer, tx.TypeStudyLock, &l); err != nil {
		return fmt.Errorf("lock dataset %s of study %s: %w", l.Name, l.Study, err)
	}
	return nil
}
