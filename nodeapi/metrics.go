package nodeapi

import (
	"cmp"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the node's metrics (Options.Metrics) with the
// series only the API knows: the /healthz and /readyz verdicts, the
// records service's access log and anchoring, and the TLS certificate's
// expiry.
func (s *server) metricsHandler(reg *prometheus.Registry) http.Handler {
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
	if s.opts.Certs != nil {
		reg.MustRegister(s.opts.Certs)
	}
	return promhttp.HandlerFor(prometheus.Gatherers{s.opts.Metrics, reg}, promhttp.HandlerOpts{})
}

// instrument counts and times the requests h serves, by the route pattern
// that matched (ServeMux sets it on the request) and status code, in reg.
func instrument(h http.Handler, reg *prometheus.Registry) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "carechain_http_requests_total",
		Help: "Requests to the node's API (/v1, /healthz, /readyz, /metrics), by route pattern and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "carechain_http_request_duration_seconds",
		Help: "Time to serve a request to the node's API, by route pattern.", Buckets: prometheus.DefBuckets,
	}, []string{"route"})
	reg.MustRegister(requests, duration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := cmp.Or(r.Pattern, "unmatched")
		requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter notes the status code of the response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the server's ResponseWriter.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
