package server

import (
	"context"
	"strings"
	"time"

	"github.com/musterhq/muster/server/manager"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// transportKey is the metadata key the gateway sets on REST traffic, so
// that updates can be counted by transport.
const transportKey = "x-muster-transport"

// metrics are Muster's own Prometheus metrics, registered on the registry
// Run is given: no globals.
type metrics struct {
	updates     *prometheus.CounterVec
	rpcs        *prometheus.CounterVec
	rpcDuration *prometheus.HistogramVec
	storeFlush  prometheus.Histogram
	storeErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, m *manager.Manager, perWorker int) *metrics {
	mt := &metrics{
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muster_updates_received_total", Help: "Updates accepted, by kind and transport (rest, grpc, grpc_stream).",
		}, []string{"kind", "transport"}),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "muster_grpc_server_handled_total", Help: "gRPC calls and streams completed, by method and code (REST calls included).",
		}, []string{"method", "code"}),
		rpcDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "muster_grpc_server_handling_seconds", Help: "Time to handle a unary gRPC call.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method"}),
		storeFlush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "muster_store_flush_seconds", Help: "Time to write one batch of changes to the store.",
			Buckets: prometheus.ExponentialBuckets(.0005, 2, 14),
		}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "muster_store_flush_errors_total", Help: "Store writes that failed.",
		}),
	}
	reg.MustRegister(mt.updates, mt.rpcs, mt.rpcDuration, mt.storeFlush, mt.storeErrors, &fleetCollector{m: m, perWorker: perWorker})
	return mt
}

// streamedKey marks the context of updates that arrived on a Report stream.
type streamedKey struct{}

// countUpdate records one accepted update of kind.
func (mt *metrics) countUpdate(ctx context.Context, kind string) {
	transport := "grpc"
	if ctx.Value(streamedKey{}) != nil {
		transport = "grpc_stream"
	} else if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(transportKey)) > 0 && md.Get(transportKey)[0] == "rest" {
		transport = "rest"
	}
	mt.updates.WithLabelValues(kind, transport).Inc()
}

func shortMethod(full string) string { return full[strings.LastIndex(full, "/")+1:] }

func (mt *metrics) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		method := shortMethod(info.FullMethod)
		mt.rpcDuration.WithLabelValues(method).Observe(time.Since(start).Seconds())
		mt.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
		return resp, err
	}
}

func (mt *metrics) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		mt.rpcs.WithLabelValues(shortMethod(info.FullMethod), status.Code(err).String()).Inc()
		return err
	}
}

// fleetCollector reads the fleet's state at scrape time: the aggregate is
// cached by the manager, so a scrape costs the same at any fleet size
// (except for the opt-in, capped per-worker series).
type fleetCollector struct {
	m         *manager.Manager
	perWorker int
}

var (
	workersDesc        = prometheus.NewDesc("muster_workers", "Known workers by health.", []string{"health"}, nil)
	activeDesc         = prometheus.NewDesc("muster_active_workers", "Workers running or paused, and fresh.", nil, nil)
	processedDesc      = prometheus.NewDesc("muster_parishes_processed", "Parishes processed by the active workers.", nil, nil)
	totalDesc          = prometheus.NewDesc("muster_parishes_total", "Parishes to process by the active workers.", nil, nil)
	successDesc        = prometheus.NewDesc("muster_success_rate_percent", "Fleet success rate, weighted by parishes processed.", nil, nil)
	breakerStateDesc   = prometheus.NewDesc("muster_breaker_state", "1 for the breaker's aggregate (worst) state.", []string{"breaker", "state"}, nil)
	breakerWorkersDesc = prometheus.NewDesc("muster_breaker_workers", "Fresh workers reporting the breaker, by state.", []string{"breaker", "state"}, nil)
	breakerCountDesc   = prometheus.NewDesc("muster_breaker_requests", "Breaker counts summed over fresh workers, by outcome.", []string{"breaker", "outcome"}, nil)
	breakerRateDesc    = prometheus.NewDesc("muster_breaker_success_rate_percent", "Breaker success rate over fresh workers.", []string{"breaker"}, nil)
	watchersDesc       = prometheus.NewDesc("muster_watchers", "Open watches (gRPC, REST stream, dashboard and WebSocket feeds).", nil, nil)
	resyncsDesc        = prometheus.NewDesc("muster_watcher_resyncs_total", "Times a watcher fell behind and was sent a fresh snapshot instead.", nil, nil)
	workerDesc         = prometheus.NewDesc("muster_worker_parishes_processed", "Per-worker parishes processed (opt-in, capped by --metrics-per-worker).", []string{"worker_id"}, nil)
)

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{workersDesc, activeDesc, processedDesc, totalDesc, successDesc, breakerStateDesc,
		breakerWorkersDesc, breakerCountDesc, breakerRateDesc, watchersDesc, resyncsDesc, workerDesc} {
		ch <- d
	}
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st := c.m.Stats()
	gauge(workersDesc, float64(st.Workers-st.Stale), "fresh")
	gauge(workersDesc, float64(st.Stale), "stale")
	gauge(watchersDesc, float64(st.Watchers))
	ch <- prometheus.MustNewConstMetric(resyncsDesc, prometheus.CounterValue, float64(st.Resyncs))

	agg := c.m.Aggregate()
	ext := agg.GetExtractionStatus()
	gauge(activeDesc, float64(ext.GetActiveWorkers()))
	gauge(processedDesc, float64(ext.GetParishesProcessed()))
	gauge(totalDesc, float64(ext.GetTotalParishes()))
	gauge(successDesc, ext.GetSuccessRate())
	for name, b := range agg.GetCircuitBreakers() {
		for _, s := range []struct {
			state   string
			workers int32
		}{{"CLOSED", b.GetWorkersClosed()}, {"HALF_OPEN", b.GetWorkersHalfOpen()}, {"OPEN", b.GetWorkersOpen()}} {
			current := 0.0
			if strings.TrimPrefix(b.GetState().String(), "BREAKER_STATE_") == s.state {
				current = 1
			}
			gauge(breakerStateDesc, current, name, s.state)
			gauge(breakerWorkersDesc, float64(s.workers), name, s.state)
		}
		gauge(breakerCountDesc, float64(b.GetTotalRequests()), name, "requests")
		gauge(breakerCountDesc, float64(b.GetTotalSuccesses()), name, "successes")
		gauge(breakerCountDesc, float64(b.GetTotalFailures()), name, "failures")
		gauge(breakerCountDesc, float64(b.GetTotalBlocked()), name, "blocked")
		gauge(breakerRateDesc, b.GetSuccessRate(), name)
	}
	if c.perWorker > 0 {
		for i, w := range c.m.Workers() {
			if i == c.perWorker {
				break
			}
			gauge(workerDesc, float64(w.GetParishesProcessed()), w.GetWorkerId())
		}
	}
}
