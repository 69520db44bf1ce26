package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/carechain/carechain/ledger"
)

// metrics are the node's Prometheus series, in a registry of its own.
type metrics struct {
	registry  *prometheus.Registry
	height    prometheus.Gauge
	committed prometheus.Counter
	rejected  *prometheus.CounterVec
	blockTxs  prometheus.Histogram
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
	}
	m.registry.MustRegister(m.height, m.committed, m.rejected, m.blockTxs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) TxRejected(stage ledger.Stage, code ledger.Code) {
	m.rejected.WithLabelValues(string(stage), code.String()).Inc()
}

func (m *metrics) BlockCommitted(b ledger.CommittedBlock) {
	m.height.Set(float64(b.Height))
	m.blockTxs.Observe(float64(len(b.Txs)))
	for _, t := range b.Txs {
		if t.Code == ledger.CodeOK {
			m.committed.Inc()
		}
	}
}
