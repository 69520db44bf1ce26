package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
)

// ScaleOptions configure Scale.
type ScaleOptions struct {
	// Sizes are the records on the chain at each point of the curve (each
	// patient's first record included), each on a fresh node.
	Sizes    []int
	Authors  int // concurrent authors, each writing for its own patients
	Patients int // patients per author
	Window   int // transactions in flight per author
	Reads    int // single-record reads timed at each size, of random records
	// Chunk is how many record.puts are prepared before they are committed
	// (only the commits are timed): it bounds the memory the prepared
	// transactions take at a million records.
	Chunk int
}

// DefaultScaleOptions are what `carechain bench scale` runs with.
func DefaultScaleOptions() ScaleOptions {
	return ScaleOptions{Sizes: []int{10000, 100000}, Authors: 8, Patients: 4, Window: 200, Reads: 2000, Chunk: 20000}
}

// seeds is the number of records seedAuthors writes: each patient's first.
func (o ScaleOptions) seeds() int { return o.Authors * o.Patients }

// ScaleReport is the outcome of Scale: one point per size, smallest first.
type ScaleReport struct {
	Options       ScaleOptions
	ResourceBytes int // size of one record's FHIR Observation
	TxBytes       int // size of one timed record.put
	Points        []ScalePoint
}

// ScalePoint is what Scale measured on the node of one size.
type ScalePoint struct {
	Records   int // record.puts on the chain: each patient's first and the timed ones
	WritePuts int // the timed ones
	Write     time.Duration
	// ReadP50 and ReadP99 are single-record reads through the records
	// service after the writes (consent, decryption, the access event
	// synced to the journal), of records drawn at random.
	ReadP50, ReadP99 time.Duration
	// StateBytes and DataBytes are the growth of the ledger's state store
	// and of the whole data directory during the timed writes.
	StateBytes, DataBytes int64
	// RSS is the process's resident memory after the writes, once the Go
	// runtime has returned its free memory to the system; -1 where the
	// system does not say (it is read from /proc/self/status).
	RSS int64
	// Heap is the live Go heap after the writes (after a collection).
	Heap uint64
	// Blocks is the chain's height that Verify checked.
	Blocks int64
	// Verify is node.VerifyHome (what `carechain verify` runs) of the
	// stopped node's home.
	Verify time.Duration
	// Sync is a joining node's block sync of the whole chain, as Sync
	// times it.
	Sync time.Duration
}

// WritePerSecond is record.puts committed per second.
func (p ScalePoint) WritePerSecond() float64 { return float64(p.WritePuts) / p.Write.Seconds() }

// StatePerRecord is the state store's growth per record written.
func (p ScalePoint) StatePerRecord() float64 { return float64(p.StateBytes) / float64(p.WritePuts) }

// DataPerRecord is the data directory's growth per record written.
func (p ScalePoint) DataPerRecord() float64 { return float64(p.DataBytes) / float64(p.WritePuts) }

// VerifyPerRecord is the verify time per record on the chain.
func (p ScalePoint) VerifyPerRecord() time.Duration { return p.Verify / time.Duration(p.Records) }

// SyncPerSecond is records synced per second by the joining node.
func (p ScalePoint) SyncPerSecond() float64 { return float64(p.Records) / p.Sync.Seconds() }

// ScaleRatios are a point's per-record figures over another's (the
// smallest size's): 1 is flat. For the rates, below 1 is slower; for the
// latencies, bytes and verify time per record, above 1 is costlier.
type ScaleRatios struct {
	Write, ReadP50, ReadP99, State, Data, Verify, Sync float64
}

// Relative is p's per-record figures over base's.
func (p ScalePoint) Relative(base ScalePoint) ScaleRatios {
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return ScaleRatios{
		Write:   ratio(p.WritePerSecond(), base.WritePerSecond()),
		ReadP50: ratio(float64(p.ReadP50), float64(base.ReadP50)),
		ReadP99: ratio(float64(p.ReadP99), float64(base.ReadP99)),
		State:   ratio(p.StatePerRecord(), base.StatePerRecord()),
		Data:    ratio(p.DataPerRecord(), base.DataPerRecord()),
		Verify:  ratio(float64(p.VerifyPerRecord()), float64(base.VerifyPerRecord())),
		Sync:    ratio(p.SyncPerSecond(), base.SyncPerSecond()),
	}
}

// Scale measures how a node's figures move with the records it holds. For
// each size, smallest first, it starts a fresh one-validator node, writes
// that many records as Records does (1 KiB FHIR Observations, prepared
// before timing, Chunk at a time), then measures reads of random records,
// the growth of the stores, the process's memory, a joining node's block
// sync of the chain, and, once the node has stopped, `carechain verify` of
// its home, which must see every record.
func Scale(ctx context.Context, opts ScaleOptions) (ScaleReport, error) {
	rep := ScaleReport{Options: opts, ResourceBytes: len(observation(1))}
	sizes := slices.Sorted(slices.Values(opts.Sizes))
	switch {
	case opts.Authors < 1 || opts.Patients < 1 || opts.Window < 1 || opts.Reads < 1 || opts.Chunk < 1:
		return rep, fmt.Errorf("bench: need authors, patients, window, reads and chunk >= 1")
	case len(sizes) == 0:
		return rep, fmt.Errorf("bench: no sizes")
	case sizes[0] < opts.seeds()+opts.Authors:
		return rep, fmt.Errorf("bench: each size must be at least %d records (each of the %d patients' first, and one more per author)",
			opts.seeds()+opts.Authors, opts.seeds())
	}
	for _, size := range slices.Compact(sizes) {
		// The earlier sizes' nodes are gone: give their memory back, so
		// that this size's RSS is its own.
		debug.FreeOSMemory()
		pt, err := scalePoint(ctx, opts, size, &rep)
		if err != nil {
			return rep, fmt.Errorf("bench scale at %d records: %w", size, err)
		}
		rep.Points = append(rep.Points, pt)
	}
	return rep, nil
}

// scalePoint measures one size on a fresh node, which it removes.
func scalePoint(ctx context.Context, opts ScaleOptions, size int, rep *ScaleReport) (ScalePoint, error) {
	pt := ScalePoint{Records: size, WritePuts: size - opts.seeds()}
	bn, err := startRecordsNode(ctx, "carechain-bench-scale")
	if err != nil {
		return pt, err
	}
	defer bn.Close()
	w, err := seedAuthors(ctx, bn, RecordsOptions{Authors: opts.Authors, Patients: opts.Patients})
	if err != nil {
		return pt, err
	}
	h := bn.node.Home()
	state0, err1 := dirBytes(h.StateDir())
	data0, err2 := dirBytes(h.DataDir())
	done, err3 := writeScale(ctx, bn, w, opts, pt.WritePuts, &pt, rep)
	state1, err4 := dirBytes(h.StateDir())
	data1, err5 := dirBytes(h.DataDir())
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return pt, err
	}
	pt.StateBytes, pt.DataBytes = state1-state0, data1-data0
	pt.RSS, pt.Heap = memoryInUse()
	rng := rand.New(rand.NewPCG(uint64(size), 19))
	if pt.ReadP50, pt.ReadP99, err = w.timeRandomReads(ctx, bn.svc, done, opts.Reads, rng); err != nil {
		return pt, err
	}
	if pt.Sync, err = scaleSync(ctx, bn); err != nil {
		return pt, err
	}
	if err := bn.node.Stop(); err != nil {
		return pt, fmt.Errorf("stop the node before verify: %w", err)
	}
	begin := time.Now()
	vr, err := node.VerifyHome(h, nil)
	if err != nil {
		return pt, fmt.Errorf("verify: %w", err)
	}
	pt.Verify, pt.Blocks = time.Since(begin), vr.Blocks
	if vr.Records != size {
		return pt, fmt.Errorf("verify saw %d records, wrote %d", vr.Records, size)
	}
	return pt, nil
}

// writeScale commits puts record.puts spread over w's authors, Chunk at a
// time, each chunk prepared before its commit is timed; it adds the commit
// times to pt.Write and returns how many records each author wrote.
func writeScale(ctx context.Context, bn *recordsNode, w writers, opts ScaleOptions, puts int, pt *ScalePoint, rep *ScaleReport) ([]int, error) {
	authors := len(w.authors)
	target, done := make([]int, authors), make([]int, authors)
	for i := range target {
		target[i] = puts / authors
		if i < puts%authors {
			target[i]++
		}
	}
	perChunk := max(1, opts.Chunk/authors)
	for written := 0; written < puts; {
		counts := make([]int, authors)
		for i := range counts {
			counts[i] = min(perChunk, target[i]-done[i])
			written += counts[i]
		}
		work, err := w.preparePutsFrom(bn, done, counts)
		if err != nil {
			return done, fmt.Errorf("prepare record.puts: %w", err)
		}
		if rep.TxBytes == 0 {
			rep.TxBytes = len(work[0][0])
		}
		d, err := commitPuts(ctx, bn.node, work, opts.Window)
		if err != nil {
			return done, fmt.Errorf("write records: %w", err)
		}
		pt.Write += d
		for i := range done {
			done[i] += counts[i]
		}
	}
	return done, nil
}

// timeRandomReads times n authorized reads, one after another, each of a
// record drawn by rng from those writeScale wrote (done[i] by author i).
func (w writers) timeRandomReads(ctx context.Context, svc *records.Service, done []int, n int, rng *rand.Rand) (p50, p99 time.Duration, err error) {
	return w.timeReadsOf(ctx, svc, n, func(int) (int, string) {
		i := rng.IntN(len(w.authors))
		return i, fmt.Sprintf("r-%d-%d", i, rng.IntN(done[i]))
	})
}

// scaleSync times a node joining bn's chain as Sync does, to bn's height.
func scaleSync(ctx context.Context, bn *recordsNode) (time.Duration, error) {
	h, err := joinerHome(ctx, bn)
	if err != nil {
		return 0, err
	}
	var sr SyncReport
	if sr.Height, err = bn.node.App().Height(); err != nil {
		return 0, fmt.Errorf("validator's height: %w", err)
	}
	if err := timeSync(ctx, h, bn.node, &sr); err != nil {
		return 0, err
	}
	return sr.Sync, nil
}

// memoryInUse is the process's resident memory (-1 if unknown) and the
// live Go heap, both after a collection that returns free memory to the
// system: what the node holds, not the garbage of preparing its writes.
func memoryInUse() (rss int64, heap uint64) {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return residentBytes(), ms.HeapAlloc
}

// residentBytes is VmRSS of /proc/self/status in bytes, -1 where there is
// no such file (systems other than Linux) or it has no such line.
func residentBytes() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		kb, unit, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		n, err := strconv.ParseInt(string(kb), 10, 64)
		if err != nil || string(unit) != "kB" {
			return -1
		}
		return n * 1024
	}
	return -1
}
