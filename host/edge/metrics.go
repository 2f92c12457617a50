package edge

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the Server's Prometheus metrics, per app and per route.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	compile   prometheus.Histogram
	instance  *prometheus.HistogramVec
	deploys   *prometheus.CounterVec
	rollbacks *prometheus.CounterVec
	cache     *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmroute_requests_total",
			Help: "Requests served, by app, route and status class (2xx, 4xx, ...)."}, []string{"app", "route", "class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmroute_request_duration_seconds",
			Help: "Time to serve a request, by app and route.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}, []string{"app", "route"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wasmroute_requests_in_flight",
			Help: "Requests being served, by app."}, []string{"app"}),
		compile: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wasmroute_compile_seconds",
			Help: "Compilations to machine code, from the cache or not.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 8)}),
		instance: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wasmroute_instance_start_seconds",
			Help: "Instances started, clones of a snapshot or fresh.", Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10)}, []string{"kind"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmroute_deploys_total",
			Help: "Deploys, by app and result (ok, failed)."}, []string{"app", "result"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmroute_rollbacks_total",
			Help: "Rollbacks, by app and result (ok, failed)."}, []string{"app", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wasmroute_cache_requests_total",
			Help: "Requests the response cache took, by app, route and how it answered (HIT, STALE, MISS)."}, []string{"app", "route", "state"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.compile, m.instance, m.deploys, m.rollbacks, m.cache,
		instanceCollector{s}, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// observe records a finished request of app.
func (m *metrics) observe(app, route string, status int, took time.Duration) {
	class := strconv.Itoa(status/100) + "xx"
	m.requests.WithLabelValues(app, route, class).Inc()
	m.latency.WithLabelValues(app, route).Observe(took.Seconds())
}

func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}

// handler serves the metrics in Prometheus's text format.
func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// instanceCollector reports the instances of every app's modules, idle and
// busy, when scraped.
type instanceCollector struct{ s *Server }

var instancesDesc = prometheus.NewDesc("wasmroute_instances", "Instances of an app's modules, idle or busy.", []string{"app", "state"}, nil)

func (c instanceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- instancesDesc }

func (c instanceCollector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	for name, a := range c.s.apps {
		idle, busy := 0, 0
		for _, st := range a.h.Stats() {
			idle += st.Idle
			busy += st.Instances - st.Idle
		}
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(idle), name, "idle")
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(busy), name, "busy")
	}
}
