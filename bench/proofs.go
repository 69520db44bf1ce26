package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
)

// ProofsOptions configure Proofs.
type ProofsOptions struct {
	Records int // records to write
	Proofs  int // proofs to generate and verify
}

// DefaultProofsOptions are what `carechain bench proofs` runs with.
func DefaultProofsOptions() ProofsOptions { return ProofsOptions{Records: 100000, Proofs: 1000} }

// ProofsReport is the outcome of Proofs.
type ProofsReport struct {
	Options         ProofsOptions
	Blocks          int64
	ProofsPerSecond float64 // bundle generation by a running node
	// ServedPerSecond is bundle generation as /v1/proofs serves it to a
	// signed request: with the access decision and the access event
	// journaled first (records.Service.MayProve).
	ServedPerSecond float64
	VerifyPerSecond float64 // offline verification of a bundle
	BundleBytes     int
	VerifyHome      time.Duration // `carechain verify` of the stopped home
}

// proofPatient is the one patient Proofs writes records for; record i is "b-i".
const proofPatient = "patient/bench"

// Proofs writes records into a one-validator node, measures proof
// generation and offline verification, stops the node and times
// node.VerifyHome.
func Proofs(ctx context.Context, opts ProofsOptions) (ProofsReport, error) {
	rep := ProofsReport{Options: opts}
	if opts.Records < 1 || opts.Proofs < 1 {
		return rep, fmt.Errorf("bench: need records >= 1 and proofs >= 1")
	}
	bn, err := startRecordsNode(ctx, "carechain-bench-proofs")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	if err := writeProofRecords(ctx, bn, opts.Records); err != nil {
		return rep, err
	}
	bundles, err := timeProofs(ctx, bn.node, opts, &rep)
	if err != nil {
		return rep, err
	}
	if err := timeServed(ctx, bn, opts, &rep); err != nil {
		return rep, err
	}
	if err := timeVerify(ctx, bn.node, bundles, &rep); err != nil {
		return rep, err
	}
	if err := bn.node.Stop(); err != nil {
		return rep, err
	}
	begin := time.Now()
	vr, err := node.VerifyHome(bn.node.Home(), nil)
	if err != nil {
		return rep, err
	}
	rep.VerifyHome, rep.Blocks = time.Since(begin), vr.Blocks
	if vr.Records != opts.Records {
		return rep, fmt.Errorf("verify saw %d records, wrote %d", vr.Records, opts.Records)
	}
	return rep, nil
}

// writeProofRecords registers a physician and a patient and has the
// physician write n records for the patient, prepared on two cores.
func writeProofRecords(ctx context.Context, bn *recordsNode, n int) error {
	dr, drReg := practitioner("bench/dr", carechain.RolePhysician)
	pek, err := seal.GenerateKey()
	if err != nil {
		return err
	}
	_, patReg := patient(proofPatient, pek.Public().Bytes())
	if err := bn.register(ctx, drReg, patReg); err != nil {
		return err
	}
	// The first record starts the patient's epoch; the rest can be prepared
	// ahead with known nonces.
	first := records.PutItem{Patient: proofPatient, Category: "lab", RecordID: "b-0", Resource: observation(0)}
	if _, err := bn.svc.Put(ctx, dr, first); err != nil {
		return err
	}
	work := make([][]byte, n-1)
	const workers = 2
	if err := inParallel(workers, func(w int) error {
		for i := w; i < n-1; i += workers {
			raw, err := bn.svc.PreparePut(dr, uint64(i+2), proofPatient, "lab", fmt.Sprintf("b-%d", i+1), 1, observation(i))
			if err != nil {
				return err
			}
			work[i] = raw
		}
		return nil
	}); err != nil {
		return err
	}
	_, err = pipeline(ctx, bn.node, work, registerWindow)
	return err
}

// proofPoll is how often timeProofs asks whether the last record is provable yet.
const proofPoll = 10 * time.Millisecond

// proofRecordKey is the log key of the i-th proof of a run: records spread over the log.
func proofRecordKey(i int, opts ProofsOptions) string {
	return ledger.RecordLogKey(fmt.Sprintf("b-%d", (i*7919)%opts.Records), 1)
}

// timeProofs waits until the last record is in a signed checkpoint, then
// times opts.Proofs inclusion proofs of records spread over the log.
func timeProofs(ctx context.Context, n *node.Node, opts ProofsOptions, rep *ProofsReport) ([]*proof.Bundle, error) {
	recordKey := func(i int) string { return ledger.RecordLogKey(fmt.Sprintf("b-%d", i), 1) }
	for {
		_, err := n.Prove(ctx, tlog.KindRecord, recordKey(opts.Records-1))
		if err == nil {
			break
		}
		if !errors.Is(err, node.ErrNoCheckpoint) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(proofPoll):
		}
	}
	bundles := make([]*proof.Bundle, 0, opts.Proofs)
	begin := time.Now()
	for i := range opts.Proofs {
		b, err := n.Prove(ctx, tlog.KindRecord, proofRecordKey(i, opts))
		if err != nil {
			return nil, err
		}
		bundles = append(bundles, b)
	}
	rep.ProofsPerSecond = float64(opts.Proofs) / time.Since(begin).Seconds()
	enc, err := proof.Encode(bundles[0])
	if err != nil {
		return nil, err
	}
	rep.BundleBytes = len(enc)
	return bundles, nil
}

// timeServed times the proofs timeProofs made as the patient's signed
// requests get them: each decided and logged (records.MayProve), then built.
func timeServed(ctx context.Context, bn *recordsNode, opts ProofsOptions, rep *ProofsReport) error {
	begin := time.Now()
	for i := range opts.Proofs {
		q := records.ProofRequest{Requester: proofPatient, Kind: tlog.KindRecord, Key: proofRecordKey(i, opts)}
		if err := bn.svc.MayProve(ctx, q); err != nil {
			return err
		}
		if _, err := bn.node.Prove(ctx, q.Kind, q.Key); err != nil {
			return err
		}
	}
	rep.ServedPerSecond = float64(opts.Proofs) / time.Since(begin).Seconds()
	return nil
}

// timeVerify times offline verification of bundles against n's validators.
func timeVerify(ctx context.Context, n *node.Node, bundles []*proof.Bundle, rep *ProofsReport) error {
	vj, err := n.Validators(ctx)
	if err != nil {
		return err
	}
	trusted, err := proof.ParseValidators(vj)
	if err != nil {
		return err
	}
	begin := time.Now()
	for _, b := range bundles {
		if err := proof.Verify(b, trusted); err != nil {
			return err
		}
	}
	rep.VerifyPerSecond = float64(len(bundles)) / time.Since(begin).Seconds()
	return nil
}
