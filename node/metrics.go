package node

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/carechain/carechain/ledger"
)

// metrics are the node's Prometheus series, in a registry of its own. The
// alerting rules and dashboard in deploy/ name them; a test scrapes a real
// node to check every name they use is here.
type metrics struct {
	registry  *prometheus.Registry
	height    prometheus.Gauge
	committed prometheus.Counter
	rejected  *prometheus.CounterVec
	blockTxs  prometheus.Histogram
	// misbehavior counts evidence of validator misbehavior in committed
	// blocks; guardHolding is 1 while a restored validator's guard holds.
	misbehavior  prometheus.Counter
	guardHolding prometheus.Gauge
	// lastBlock is the wall-clock time this node saw its last commit, in
	// Unix milliseconds (0: none since start).
	lastBlock atomic.Int64
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		height: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "carechain_height", Help: "Last committed block height.",
		}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "carechain_txs_committed_total", Help: "Transactions committed and accepted.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "carechain_txs_rejected_total", Help: "Transactions rejected, by stage (check, finalize) and reason.",
		}, []string{"stage", "reason"}),
		blockTxs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "carechain_block_txs", Help: "Transactions per committed block.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		misbehavior: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "carechain_misbehavior_total", Help: "Evidence of validator misbehavior (double signing, light-client attacks) in committed blocks.",
		}),
		guardHolding: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "carechain_restore_guard_holding", Help: "1 while this restored validator does not sign yet (restore guard), else 0.",
		}),
	}
	// Every rejection starts at 0, so that a rate over it is defined from
	// the first scrape and dashboards list every code.
	for c := ledger.CodeOK + 1; !strings.HasPrefix(c.String(), "code_"); c++ {
		for _, stage := range []ledger.Stage{ledger.StageCheck, ledger.StageFinalize} {
			m.rejected.WithLabelValues(string(stage), c.String())
		}
	}
	m.registry.MustRegister(m.height, m.committed, m.rejected, m.blockTxs, m.misbehavior, m.guardHolding,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "carechain_last_block_timestamp_seconds",
			Help: "Wall-clock time (Unix seconds) this node committed its last block; 0 before its first commit since start.",
		}, func() float64 { return float64(m.lastBlock.Load()) / 1000 }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watch registers the series read from the running node at each scrape:
// its mempool, peers, validators, sync state and the free space of its
// home's filesystem.
func (m *metrics) watch(n *Node) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.registry.MustRegister(
		gauge("carechain_mempool_txs", "Transactions waiting in this node's mempool.",
			func() float64 { txs, _ := n.Pending(); return float64(txs) }),
		gauge("carechain_mempool_max_txs", "How many transactions this node's mempool holds at most (config mempool_size).",
			func() float64 { return float64(n.config.MempoolSize) }),
		gauge("carechain_mempool_wait_seconds", "How long the transactions in the mempool have waited without a new block (0 when none wait).",
			func() float64 { _, w := n.Pending(); return w.Seconds() }),
		gauge("carechain_peers", "Peers this node is connected to.",
			func() float64 { return float64(n.cmt.Switch().Peers().Size()) }),
		gauge("carechain_validators", "Validators in the current validator set.",
			func() float64 { return float64(n.validatorCount()) }),
		gauge("carechain_syncing", "1 while this node catches up with its peers (block sync), else 0.",
			func() float64 { return boolFloat(n.Syncing()) }),
		gauge("carechain_disk_free_bytes", "Bytes free to this process on the filesystem of the node's home (NaN if unknown).",
			func() float64 { return diskFloat(n.home.DiskSpace()) }),
		gauge("carechain_disk_size_bytes", "Size in bytes of the filesystem of the node's home (NaN if unknown).",
			func() float64 { _, size, err := n.home.DiskSpace(); return diskFloat(size, 0, err) }),
	)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// diskFloat is a byte count as a gauge's value, NaN where it is unknown.
func diskFloat(bytes, _ uint64, err error) float64 {
	if err != nil {
		return math.NaN()
	}
	return float64(bytes)
}

func (m *metrics) TxRejected(stage ledger.Stage, code ledger.Code) {
	m.rejected.WithLabelValues(string(stage), code.String()).Inc()
}

func (m *metrics) BlockCommitted(b ledger.CommittedBlock) {
	m.height.Set(float64(b.Height))
	m.lastBlock.Store(time.Now().UnixMilli())
	m.blockTxs.Observe(float64(len(b.Txs)))
	m.misbehavior.Add(float64(b.Misbehavior))
	for _, t := range b.Txs {
		if t.Code == ledger.CodeOK {
			m.committed.Inc()
		}
	}
}

// validatorCount is the size of the current validator set, or -1 when the
// node cannot say (it is stopping).
func (n *Node) validatorCount() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	vals, err := n.validatorSet(ctx, 0)
	if err != nil {
		return -1
	}
	return len(vals.Validators)
}
