package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// AmendOptions configure Amend.
type AmendOptions struct {
	Proposals int // amendments proposed and approved
	Parallel  int // proposals in flight for the throughput part
}

// DefaultAmendOptions are what `carechain bench amend` runs with.
func DefaultAmendOptions() AmendOptions { return AmendOptions{Proposals: 200, Parallel: 8} }

// AmendReport is the outcome of Amend.
type AmendReport struct {
	Options            AmendOptions
	ProposeToCommitP50 time.Duration // one proposal, four signers approving one after another
	ProposeToCommitP99 time.Duration
	ApprovalsPerSecond float64 // with proposals in parallel
}

// maxSequentialAmends caps the proposals Amend times one at a time.
const maxSequentialAmends = 20

// Amend measures multi-party approval on one node: proposal-to-commit
// latency with four signers (all-of: hospital authority, head of radiology,
// specialist, patient) approving in turn, and approvals per second with
// opts.Parallel proposals in flight.
func Amend(ctx context.Context, opts AmendOptions) (AmendReport, error) {
	rep := AmendReport{Options: opts}
	if opts.Proposals < 2 || opts.Parallel < 1 {
		return rep, fmt.Errorf("bench: need proposals >= 2 and parallel >= 1")
	}
	bn, err := startRecordsNode(ctx, "carechain-bench-amend")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	b, err := seedAmend(ctx, bn, opts.Proposals)
	if err != nil {
		return rep, err
	}
	// Latency: one at a time.
	sequential := min(maxSequentialAmends, opts.Proposals/2)
	lat := make([]time.Duration, 0, sequential)
	for i := range sequential {
		d, err := b.amend(ctx, i)
		if err != nil {
			return rep, err
		}
		lat = append(lat, d)
	}
	rep.ProposeToCommitP50, rep.ProposeToCommitP99 = percentiles(lat)
	// Throughput: the rest in parallel.
	begin := time.Now()
	if err := inParallel(opts.Parallel, func(w int) error {
		for i := sequential + w; i < opts.Proposals; i += opts.Parallel {
			if _, err := b.amend(ctx, i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return rep, err
	}
	rep.ApprovalsPerSecond = float64(len(b.approvers)*(opts.Proposals-sequential)) / time.Since(begin).Seconds()
	return rep, nil
}

// amendments is Amend's cast: a radiologist who wrote the reports and
// proposes corrections, and the approvers the organization's policy requires.
type amendments struct {
	svc       *records.Service
	author    records.Signer
	approvers []records.Signer
}

// seedAmend registers the cast, writes n imaging reports ("xr-i") and sets
// an all-of policy on imaging (untimed).
func seedAmend(ctx context.Context, bn *recordsNode, n int) (amendments, error) {
	pek, err := seal.GenerateKey()
	if err != nil {
		return amendments{}, err
	}
	rad, radReg := practitioner("bench/rad", carechain.RoleRadiologist)
	auth, authReg := practitioner("bench/authority", carechain.RoleHospitalAuthority)
	head, headReg := practitioner("bench/head", carechain.RoleHeadOfRadiology)
	spec, specReg := practitioner("bench/spec", carechain.RoleSpecialist)
	pat, patReg := patient("patient/bench", pek.Public().Bytes())
	if err := bn.register(ctx, radReg, authReg, headReg, specReg, patReg); err != nil {
		return amendments{}, err
	}
	items := make([]records.PutItem, n)
	for i := range items {
		items[i] = records.PutItem{Patient: pat.ID, Category: "imaging", RecordID: fmt.Sprintf("xr-%d", i), Resource: imagingReport(i, "No acute findings.")}
	}
	for start := 0; start < len(items); start += tx.MaxBatch {
		if _, err := bn.svc.PutBatch(ctx, rad, items[start:min(start+tx.MaxBatch, len(items))]); err != nil {
			return amendments{}, err
		}
	}
	if err := bn.svc.SetPolicy(ctx, bn.admin, tx.AmendPolicy{Org: org, Category: "imaging", Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{
		{Role: carechain.RoleHospitalAuthority, Org: org}, {Role: carechain.RoleHeadOfRadiology, Org: org}, {Role: carechain.RoleSpecialist, Org: org}, {Patient: true}}}}); err != nil {
		return amendments{}, err
	}
	return amendments{svc: bn.svc, author: rad, approvers: []records.Signer{auth, head, spec, pat}}, nil
}

// imagingReport is a DiagnosticReport of the Amend patient.
func imagingReport(i int, conclusion string) []byte {
	return fmt.Appendf(nil, `{"resourceType":"DiagnosticReport","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"36643-5"}]},
"subject":{"reference":"Patient/bench"},"conclusion":"%s %d"}`, conclusion, i)
}

// amend proposes a correction of report i and has every approver approve it
// in turn; it returns the time from proposal to the last approval's commit.
func (a amendments) amend(ctx context.Context, i int) (time.Duration, error) {
	t0 := time.Now()
	id, err := a.svc.Propose(ctx, a.author, fmt.Sprintf("xr-%d", i), imagingReport(i, "Corrected:"), "correction", time.Hour)
	if err != nil {
		return 0, fmt.Errorf("propose xr-%d: %w", i, err)
	}
	for _, s := range a.approvers {
		if err := a.svc.Approve(ctx, s, id); err != nil {
			return 0, fmt.Errorf("approve %s by %s: %w", id, s.ID, err)
		}
	}
	return time.Since(t0), nil
}
