package records

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// anchorStats counts how anchoring goes, for the metrics.
type anchorStats struct {
	failures atomic.Uint64
	last     atomic.Int64 // Unix milliseconds of the last batch anchored; 0: none
}

func (a *anchorStats) succeeded(now time.Time) { a.last.Store(now.UnixMilli()) }
func (a *anchorStats) failed()                 { a.failures.Add(1) }

var (
	descPending = prometheus.NewDesc("carechain_access_events_pending",
		"Access events journaled but not yet anchored on the ledger.", nil, nil)
	descLag = prometheus.NewDesc("carechain_access_log_lag_seconds",
		"Age of the oldest access event not yet anchored (0 when none wait); reads of health data stop past carechain_access_log_max_lag_seconds.", nil, nil)
	descMaxLag = prometheus.NewDesc("carechain_access_log_max_lag_seconds",
		"The node's --audit-max-lag: how long an access event may wait to be anchored before reads of health data stop.", nil, nil)
	descFailures = prometheus.NewDesc("carechain_anchor_failures_total",
		"Flushes of access events to the ledger (audit.anchor) that left events unanchored.", nil, nil)
	descLastAnchor = prometheus.NewDesc("carechain_anchor_last_success_timestamp_seconds",
		"When (Unix seconds) a batch of access events last committed; 0 if none since start.", nil, nil)
)

// Describe implements prometheus.Collector: the service's access-log and
// anchoring series, read from it at each scrape.
func (s *Service) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descLag, descMaxLag, descFailures, descLastAnchor} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	lag, _ := s.unanchoredFor()
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(s.Pending()))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, max(lag, 0).Seconds())
	ch <- prometheus.MustNewConstMetric(descMaxLag, prometheus.GaugeValue, s.maxLag.Seconds())
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.anchoring.failures.Load()))
	ch <- prometheus.MustNewConstMetric(descLastAnchor, prometheus.GaugeValue, float64(s.anchoring.last.Load())/1000)
}
