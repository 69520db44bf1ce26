package nodeapi

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the node's metrics (Options.Metrics) with the
// series only the API knows: the /healthz and /readyz verdicts, and the
// records service's access log and anchoring.
func (s *server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	verdict := func(name, help string, why func(Health, time.Duration) string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if s.verdict(why) {
				return 1
			}
			return 0
		})
	}
	reg.MustRegister(
		verdict("carechain_live", "1 when /healthz answers 200, 0 when it answers 503.", s.notLive),
		verdict("carechain_ready", "1 when /readyz answers 200, 0 when it answers 503.", s.notReady),
	)
	if s.opts.Records != nil {
		reg.MustRegister(s.opts.Records)
	}
	return promhttp.HandlerFor(prometheus.Gatherers{s.opts.Metrics, reg}, promhttp.HandlerOpts{})
}
