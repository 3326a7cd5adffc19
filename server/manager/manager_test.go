package manager_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/fakeclock"
	"github.com/musterhq/muster/server/manager"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ---------------------------------------------------------------------------
// Shared helpers (used by every _test.go file of the package).
// ---------------------------------------------------------------------------

// t0 is the fake clock's starting time.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	unspecified = musterv1.ExtractionState_EXTRACTION_STATE_UNSPECIFIED
	running     = musterv1.ExtractionState_EXTRACTION_STATE_RUNNING
	paused      = musterv1.ExtractionState_EXTRACTION_STATE_PAUSED
	idle        = musterv1.ExtractionState_EXTRACTION_STATE_IDLE
	completed   = musterv1.ExtractionState_EXTRACTION_STATE_COMPLETED
	failed      = musterv1.ExtractionState_EXTRACTION_STATE_ERROR
	staleState  = musterv1.ExtractionState_EXTRACTION_STATE_STALE

	bUnspecified = musterv1.BreakerState_BREAKER_STATE_UNSPECIFIED
	bClosed      = musterv1.BreakerState_BREAKER_STATE_CLOSED
	bHalfOpen    = musterv1.BreakerState_BREAKER_STATE_HALF_OPEN
	bOpen        = musterv1.BreakerState_BREAKER_STATE_OPEN

	healthFresh = musterv1.Health_HEALTH_FRESH
	healthStale = musterv1.Health_HEALTH_STALE

	staleAfter  = 5 * time.Minute
	forgetAfter = time.Hour
)

// newManager returns a manager on a fake clock starting at t0. Unset
// liveness options get the test defaults staleAfter and forgetAfter.
func newManager(opts manager.Options) (*manager.Manager, *fakeclock.Clock) {
	c := fakeclock.New(t0)
	opts.Now = c.Now
	if opts.StaleAfter == 0 {
		opts.StaleAfter = staleAfter
	}
	if opts.ForgetAfter == 0 {
		opts.ForgetAfter = forgetAfter
	}
	return manager.New(opts), c
}

func ptr[T any](v T) *T { return &v }

// at returns t0+d as a timestamp.
func at(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }

// ext builds an extraction status.
func ext(state musterv1.ExtractionState, diocese *string, processed, total int64, rate float64) *musterv1.ExtractionStatus {
	return &musterv1.ExtractionStatus{
		Status:            state,
		CurrentDiocese:    diocese,
		ParishesProcessed: processed,
		TotalParishes:     total,
		SuccessRate:       rate,
	}
}

// op is one step of a scenario.
type op func(m *manager.Manager, c *fakeclock.Clock)

func setStatus(id string, s *musterv1.ExtractionStatus) op {
	return func(m *manager.Manager, _ *fakeclock.Clock) { m.UpdateExtractionStatus(id, s) }
}

func setBreakers(id string, b map[string]*musterv1.CircuitBreaker) op {
	return func(m *manager.Manager, _ *fakeclock.Clock) { m.UpdateCircuitBreakers(id, b) }
}

func setPerf(id string, p *musterv1.PerformanceMetrics) op {
	return func(m *manager.Manager, _ *fakeclock.Clock) { m.UpdatePerformance(id, p) }
}

func heartbeat(id string) op {
	return func(m *manager.Manager, _ *fakeclock.Clock) { m.Heartbeat(id, "") }
}

func advance(d time.Duration) op {
	return func(_ *manager.Manager, c *fakeclock.Clock) { c.Advance(d) }
}

func forget(id string) op {
	return func(m *manager.Manager, _ *fakeclock.Clock) { _ = m.Forget(id) }
}

func run(m *manager.Manager, c *fakeclock.Clock, ops []op) {
	for _, o := range ops {
		o(m, c)
	}
}

// protoOpts compares protobuf messages, with a 1e-6 tolerance on floats.
var protoOpts = []cmp.Option{protocmp.Transform(), cmpopts.EquateApprox(0, 1e-6)}

func diff(want, got any) string { return cmp.Diff(want, got, protoOpts...) }

// mustNotPanic runs f and reports a panic as a test error instead of
// crashing the whole test binary.
func mustNotPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", name, r)
		}
	}()
	f()
}

func ids(ws []*musterv1.WorkerSummary) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.GetWorkerId())
	}
	return out
}

func mustWorker(t *testing.T, m *manager.Manager, id string) *musterv1.WorkerStatus {
	t.Helper()
	w, err := m.Worker(id)
	if err != nil {
		t.Fatalf("Worker(%q): %v", id, err)
	}
	return w
}

// ---------------------------------------------------------------------------
// Options and basic bookkeeping.
// ---------------------------------------------------------------------------

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   manager.Options
		want manager.Options
	}{
		{
			name: "zero values take defaults",
			in:   manager.Options{},
			want: manager.Options{
				StaleAfter: 5 * time.Minute, ForgetAfter: 24 * time.Hour, LegacyWorkerID: "legacy",
				ErrorsPerWorker: 50, LogsPerWorker: 100, CompletionsPerWorker: 50,
				FleetEvents: 200, FeedSize: 16384, MaxWorkers: 100_000,
			},
		},
		{
			name: "explicit values are kept",
			in: manager.Options{
				StaleAfter: 90 * time.Second, ForgetAfter: 2 * time.Hour, LegacyWorkerID: "old-scripts",
				ErrorsPerWorker: 3, LogsPerWorker: 4, CompletionsPerWorker: 5, FleetEvents: 6, FeedSize: 7, MaxWorkers: 8,
			},
			want: manager.Options{
				StaleAfter: 90 * time.Second, ForgetAfter: 2 * time.Hour, LegacyWorkerID: "old-scripts",
				ErrorsPerWorker: 3, LogsPerWorker: 4, CompletionsPerWorker: 5, FleetEvents: 6, FeedSize: 7, MaxWorkers: 8,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := manager.New(tt.in).Options()
			if got.Now == nil {
				t.Error("Options().Now is nil, want a default clock")
			}
			got.Now = nil
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Options() mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestEmptyManager(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	if ws := m.Workers(); len(ws) != 0 {
		t.Errorf("Workers() = %v, want none", ids(ws))
	}
	if _, err := m.Worker("w1"); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("Worker(w1) error = %v, want ErrNotFound", err)
	}
	if _, err := m.Worker(""); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("Worker(\"\") error = %v, want ErrNotFound (no legacy worker without traffic)", err)
	}
	if err := m.Forget("w1"); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("Forget(w1) error = %v, want ErrNotFound", err)
	}
	want := &musterv1.Aggregate{
		ExtractionStatus:   &musterv1.ExtractionAggregate{Status: idle},
		PerformanceMetrics: &musterv1.PerformanceAggregate{},
	}
	if d := diff(want, m.Aggregate()); d != "" {
		t.Errorf("Aggregate() mismatch (-want +got):\n%s", d)
	}
	if !m.AggregateMode() {
		t.Error("AggregateMode() = false, want true by default")
	}
	if n := m.Watchers(); n != 0 {
		t.Errorf("Watchers() = %d, want 0", n)
	}
	e, l, c := m.Recent(-1)
	if len(e)+len(l)+len(c) != 0 {
		t.Errorf("Recent(-1) = %d, %d, %d events, want none", len(e), len(l), len(c))
	}
}

func TestWorkersSummary(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.UpdateExtractionStatus("w2", &musterv1.ExtractionStatus{
		Status: paused, CurrentDiocese: ptr("Boston"), ParishesProcessed: 7, TotalParishes: 70, SuccessRate: 75.5,
		StartedAt: at(-time.Hour),
	})
	c.Advance(time.Second)
	m.Heartbeat("w10", "discovery")
	c.Advance(time.Second)
	m.UpdatePerformance("a-1", &musterv1.PerformanceMetrics{QueueSize: 3})

	want := []*musterv1.WorkerSummary{
		{WorkerId: "a-1", Status: idle, LastUpdated: at(2 * time.Second), Health: healthFresh},
		{WorkerId: "w10", Status: idle, LastUpdated: at(time.Second), Health: healthFresh, WorkerType: "discovery"},
		{
			WorkerId: "w2", Status: paused, CurrentDiocese: ptr("Boston"), ParishesProcessed: 7, TotalParishes: 70,
			SuccessRate: 75.5, LastUpdated: at(0), Health: healthFresh,
		},
	}
	if d := diff(want, m.Workers()); d != "" {
		t.Errorf("Workers() mismatch (-want +got):\n%s", d)
	}
}

func TestUpdateExtractionStatusNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   *musterv1.ExtractionStatus
		want *musterv1.ExtractionStatus
	}{
		{"nil status is idle", nil, &musterv1.ExtractionStatus{Status: idle}},
		{"unset state is idle", &musterv1.ExtractionStatus{ParishesProcessed: 4}, &musterv1.ExtractionStatus{Status: idle, ParishesProcessed: 4}},
		{"empty diocese is none", &musterv1.ExtractionStatus{Status: running, CurrentDiocese: ptr("")}, &musterv1.ExtractionStatus{Status: running}},
		{"values are kept", ext(running, ptr("X"), 1, 2, 3), ext(running, ptr("X"), 1, 2, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := newManager(manager.Options{})
			m.UpdateExtractionStatus("w1", tt.in)
			if d := diff(tt.want, mustWorker(t, m, "w1").GetExtractionStatus()); d != "" {
				t.Errorf("stored status mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestUpdateExtractionStatusReplaces(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateExtractionStatus("w1", &musterv1.ExtractionStatus{
		Status: running, CurrentDiocese: ptr("A"), ParishesProcessed: 5, StartedAt: at(-time.Hour),
		EstimatedCompletion: at(time.Hour),
	})
	m.UpdateExtractionStatus("w1", &musterv1.ExtractionStatus{Status: paused, TotalParishes: 9})
	want := &musterv1.ExtractionStatus{Status: paused, TotalParishes: 9}
	if d := diff(want, mustWorker(t, m, "w1").GetExtractionStatus()); d != "" {
		t.Errorf("status after replace mismatch (-want +got):\n%s", d)
	}
}

func TestUpdateCircuitBreakersNormalises(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{
		"unset":   {TotalRequests: 3, TotalSuccesses: 2, TotalFailures: 1},
		"given":   {State: bOpen, TotalRequests: 10, TotalSuccesses: 1, SuccessRate: 10},
		"no-reqs": {State: bHalfOpen},
	})
	want := map[string]*musterv1.CircuitBreaker{
		"unset":   {State: bClosed, TotalRequests: 3, TotalSuccesses: 2, TotalFailures: 1, SuccessRate: 66.7},
		"given":   {State: bOpen, TotalRequests: 10, TotalSuccesses: 1, SuccessRate: 10},
		"no-reqs": {State: bHalfOpen},
	}
	if d := diff(want, mustWorker(t, m, "w1").GetCircuitBreakers()); d != "" {
		t.Errorf("stored breakers mismatch (-want +got):\n%s", d)
	}
}

// A nil entry in the breaker map must not crash the server; the update
// skips it (UpdateCircuitBreakers already skips nil entries when storing).
func TestUpdateCircuitBreakersNilEntry(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	mustNotPanic(t, "UpdateCircuitBreakers with a nil breaker", func() {
		m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{
			"gone": nil,
			"db":   {State: bOpen, TotalRequests: 4},
		})
	})
	w, err := m.Worker("w1")
	if err != nil {
		t.Fatalf("Worker(w1): %v", err)
	}
	want := map[string]*musterv1.CircuitBreaker{"db": {State: bOpen, TotalRequests: 4}}
	if d := diff(want, w.GetCircuitBreakers()); d != "" {
		t.Errorf("stored breakers mismatch (-want +got):\n%s", d)
	}
}

func TestUpdatePerformanceReplaces(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{ParishesPerMinute: 3, QueueSize: 4, PoolUtilization: 0.5, TotalRequests: 9, SuccessfulRequests: 8})
	m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{QueueSize: 1})
	if d := diff(&musterv1.PerformanceMetrics{QueueSize: 1}, mustWorker(t, m, "w1").GetPerformanceMetrics()); d != "" {
		t.Errorf("stored metrics mismatch (-want +got):\n%s", d)
	}
	m.UpdatePerformance("w2", nil)
	if d := diff(&musterv1.PerformanceMetrics{}, mustWorker(t, m, "w2").GetPerformanceMetrics()); d != "" {
		t.Errorf("nil metrics stored as (-want +got):\n%s", d)
	}
}

// ---------------------------------------------------------------------------
// Legacy pseudo-worker, fleet-wide events and worker types.
// ---------------------------------------------------------------------------

func TestLegacyWorker(t *testing.T) {
	t.Parallel()
	updates := []struct {
		name string
		do   func(m *manager.Manager)
	}{
		{"extraction status", func(m *manager.Manager) { m.UpdateExtractionStatus("", ext(running, nil, 1, 2, 50)) }},
		{"circuit breakers", func(m *manager.Manager) {
			m.UpdateCircuitBreakers("", map[string]*musterv1.CircuitBreaker{"db": {TotalRequests: 1}})
		}},
		{"performance", func(m *manager.Manager) { m.UpdatePerformance("", &musterv1.PerformanceMetrics{QueueSize: 1}) }},
		{"heartbeat", func(m *manager.Manager) { m.Heartbeat("", "") }},
	}
	legacyIDs := []struct{ configured, want string }{
		{"", "legacy"},
		{"old-scripts", "old-scripts"},
	}
	for _, u := range updates {
		for _, l := range legacyIDs {
			t.Run(fmt.Sprintf("%s/id=%s", u.name, l.want), func(t *testing.T) {
				t.Parallel()
				m, _ := newManager(manager.Options{LegacyWorkerID: l.configured})
				u.do(m)
				if got, want := ids(m.Workers()), []string{l.want}; !slices.Equal(got, want) {
					t.Fatalf("Workers() = %v, want %v", got, want)
				}
				for _, id := range []string{"", l.want} {
					w, err := m.Worker(id)
					if err != nil {
						t.Fatalf("Worker(%q): %v", id, err)
					}
					if w.GetWorkerId() != l.want {
						t.Errorf("Worker(%q).WorkerId = %q, want %q", id, w.GetWorkerId(), l.want)
					}
				}
				if n := m.Aggregate().GetExtractionStatus().GetTotalWorkers(); n != 1 {
					t.Errorf("total_workers = %d, want 1", n)
				}
				if err := m.Forget(""); err != nil {
					t.Fatalf("Forget(\"\"): %v", err)
				}
				if _, err := m.Worker(l.want); !errors.Is(err, manager.ErrNotFound) {
					t.Errorf("Worker(%q) after Forget(\"\") error = %v, want ErrNotFound", l.want, err)
				}
			})
		}
	}
}

// A hybrid fleet: the legacy pseudo-worker adds up with named workers.
func TestLegacyWorkerHybridAggregate(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateExtractionStatus("", ext(running, ptr("Legacy Diocese"), 100, 300, 90))
	m.UpdateExtractionStatus("pod-b", ext(running, ptr("Pod Diocese"), 50, 200, 80))
	m.UpdateExtractionStatus("pod-c", ext(idle, nil, 0, 0, 0))
	m.UpdateCircuitBreakers("", map[string]*musterv1.CircuitBreaker{"db": {State: bClosed, TotalRequests: 10, TotalSuccesses: 9}})
	m.UpdateCircuitBreakers("pod-b", map[string]*musterv1.CircuitBreaker{"db": {State: bOpen, TotalRequests: 10, TotalSuccesses: 1}})

	got := m.Aggregate()
	want := &musterv1.ExtractionAggregate{
		Status: running, ActiveWorkers: 2, TotalWorkers: 3,
		ParishesProcessed: 150, TotalParishes: 500, SuccessRate: 86.7, ProgressPercentage: 30,
		CurrentDiocese: ptr("Legacy Diocese, Pod Diocese"), // "legacy" < "pod-b"
	}
	if d := diff(want, got.GetExtractionStatus()); d != "" {
		t.Errorf("extraction aggregate mismatch (-want +got):\n%s", d)
	}
	wantDB := &musterv1.BreakerAggregate{
		State: bOpen, TotalRequests: 20, TotalSuccesses: 10, SuccessRate: 50, WorkersClosed: 1, WorkersOpen: 1,
	}
	if d := diff(wantDB, got.GetCircuitBreakers()["db"]); d != "" {
		t.Errorf("db breaker aggregate mismatch (-want +got):\n%s", d)
	}
}

func TestEventsWithoutWorkerAreFleetWide(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		report func(m *manager.Manager)
		count  func(e []*musterv1.ErrorEvent, l []*musterv1.LogEntry, c []*musterv1.CompletedExtraction) int
	}{
		{
			"error",
			func(m *manager.Manager) { m.ReportError(&musterv1.ErrorEvent{Type: "Timeout", Message: "boom"}) },
			func(e []*musterv1.ErrorEvent, _ []*musterv1.LogEntry, _ []*musterv1.CompletedExtraction) int {
				return len(e)
			},
		},
		{
			"log with worker type",
			func(m *manager.Manager) { m.ReportLog(&musterv1.LogEntry{Message: "hi", WorkerType: "discovery"}) },
			func(_ []*musterv1.ErrorEvent, l []*musterv1.LogEntry, _ []*musterv1.CompletedExtraction) int {
				return len(l)
			},
		},
		{
			"completion",
			func(m *manager.Manager) { m.ReportCompletion(&musterv1.CompletedExtraction{DioceseName: "X"}) },
			func(_ []*musterv1.ErrorEvent, _ []*musterv1.LogEntry, c []*musterv1.CompletedExtraction) int {
				return len(c)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			m.TakeChanges()
			c.Advance(time.Minute)
			tt.report(m)
			if ws := m.Workers(); len(ws) != 0 {
				t.Errorf("Workers() = %v, want none: a fleet-wide event creates no worker", ids(ws))
			}
			if _, err := m.Worker(""); !errors.Is(err, manager.ErrNotFound) {
				t.Errorf("Worker(\"\") error = %v, want ErrNotFound: no legacy worker from a fleet-wide event", err)
			}
			if n := m.Aggregate().GetExtractionStatus().GetTotalWorkers(); n != 0 {
				t.Errorf("total_workers = %d, want 0", n)
			}
			if n := tt.count(m.Recent(-1)); n != 1 {
				t.Errorf("Recent(-1) holds %d such events, want 1", n)
			}
			if puts, dels := m.TakeChanges(); len(puts)+len(dels) != 0 {
				t.Errorf("TakeChanges() = %d puts, %v deletes, want none", len(puts), dels)
			}
		})
	}
}

func TestEventsWithWorkerID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		report func(m *manager.Manager, id string)
		recent func(w *musterv1.WorkerStatus) int
	}{
		{
			"error",
			func(m *manager.Manager, id string) {
				m.ReportError(&musterv1.ErrorEvent{WorkerId: id, Type: "Timeout", Message: "boom"})
			},
			func(w *musterv1.WorkerStatus) int { return len(w.GetRecentErrors()) },
		},
		{
			"log",
			func(m *manager.Manager, id string) { m.ReportLog(&musterv1.LogEntry{WorkerId: id, Message: "hi"}) },
			func(w *musterv1.WorkerStatus) int { return len(w.GetRecentLogs()) },
		},
		{
			"completion",
			func(m *manager.Manager, id string) {
				m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: id, DioceseName: "X"})
			},
			func(w *musterv1.WorkerStatus) int { return len(w.GetExtractionHistory()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})

			// Creates the worker.
			tt.report(m, "new-worker")
			w := mustWorker(t, m, "new-worker")
			if n := tt.recent(w); n != 1 {
				t.Errorf("new worker holds %d events, want 1", n)
			}
			if d := diff(at(0), w.GetLastUpdated()); d != "" {
				t.Errorf("last_updated mismatch (-want +got):\n%s", d)
			}
			if got := ids(m.Workers()); !slices.Equal(got, []string{"new-worker"}) {
				t.Errorf("Workers() = %v, want [new-worker] (no legacy worker)", got)
			}

			// Refreshes (revives) an existing stale worker, and only it.
			m.UpdateExtractionStatus("w1", ext(running, nil, 1, 1, 100))
			m.UpdateExtractionStatus("w2", ext(running, nil, 1, 1, 100))
			c.Advance(staleAfter + time.Second)
			if a := m.Aggregate().GetExtractionStatus(); a.GetActiveWorkers() != 0 || a.GetStaleWorkers() != 3 {
				t.Fatalf("before event: active %d stale %d, want 0 and 3", a.GetActiveWorkers(), a.GetStaleWorkers())
			}
			tt.report(m, "w1")
			w1 := mustWorker(t, m, "w1")
			if w1.GetHealth() != healthFresh {
				t.Errorf("w1 health = %v after its event, want FRESH", w1.GetHealth())
			}
			if d := diff(at(staleAfter+time.Second), w1.GetLastUpdated()); d != "" {
				t.Errorf("w1 last_updated mismatch (-want +got):\n%s", d)
			}
			if n := tt.recent(w1); n != 1 {
				t.Errorf("w1 holds %d events, want 1", n)
			}
			if h := mustWorker(t, m, "w2").GetHealth(); h != healthStale {
				t.Errorf("w2 health = %v, want STALE (event was for w1)", h)
			}
			a := m.Aggregate().GetExtractionStatus()
			if a.GetActiveWorkers() != 1 || a.GetStaleWorkers() != 2 || a.GetTotalWorkers() != 3 {
				t.Errorf("after event: active %d stale %d total %d, want 1, 2, 3",
					a.GetActiveWorkers(), a.GetStaleWorkers(), a.GetTotalWorkers())
			}
			// A fleet-wide event refreshes nobody.
			c.Advance(staleAfter + time.Second)
			tt.report(m, "")
			for _, id := range []string{"w1", "w2", "new-worker"} {
				if h := mustWorker(t, m, id).GetHealth(); h != healthStale {
					t.Errorf("%s health = %v after a fleet-wide event, want STALE", id, h)
				}
			}
		})
	}
}

func TestEventTimestamps(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	c.Advance(90 * time.Second)
	old := at(-time.Hour) // a client-sent timestamp is replaced by the server's
	m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "e", Timestamp: old})
	c.Advance(time.Second)
	m.ReportLog(&musterv1.LogEntry{Message: "l"})
	c.Advance(time.Second)
	m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w1", DioceseName: "d"})
	e, l, cs := m.Recent(-1)
	if d := diff(at(90*time.Second), e[0].GetTimestamp()); d != "" {
		t.Errorf("error timestamp mismatch (-want +got):\n%s", d)
	}
	if d := diff(at(91*time.Second), l[0].GetTimestamp()); d != "" {
		t.Errorf("log timestamp mismatch (-want +got):\n%s", d)
	}
	if d := diff(at(92*time.Second), cs[0].GetTimestamp()); d != "" {
		t.Errorf("completion timestamp mismatch (-want +got):\n%s", d)
	}
}

func TestWorkerType(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"created by heartbeat without type", func() { m.Heartbeat("w1", "") }, ""},
		{"heartbeat states type", func() { m.Heartbeat("w1", "discovery") }, "discovery"},
		{"log states type", func() { m.ReportLog(&musterv1.LogEntry{WorkerId: "w1", WorkerType: "extraction"}) }, "extraction"},
		{"log without type keeps it", func() { m.ReportLog(&musterv1.LogEntry{WorkerId: "w1", Message: "x"}) }, "extraction"},
		{"heartbeat without type keeps it", func() { m.Heartbeat("w1", "") }, "extraction"},
		{"status update keeps it", func() { m.UpdateExtractionStatus("w1", ext(running, nil, 0, 0, 0)) }, "extraction"},
		{"error keeps it", func() { m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1"}) }, "extraction"},
		{"fleet-wide log does not change it", func() { m.ReportLog(&musterv1.LogEntry{WorkerType: "fleet"}) }, "extraction"},
		{"other worker's log does not change it", func() { m.ReportLog(&musterv1.LogEntry{WorkerId: "w2", WorkerType: "other"}) }, "extraction"},
		{"latest heartbeat wins", func() { m.Heartbeat("w1", "schedule") }, "schedule"},
	}
	for _, s := range steps {
		s.do()
		if got := mustWorker(t, m, "w1").GetWorkerType(); got != s.want {
			t.Errorf("%s: Worker.worker_type = %q, want %q", s.name, got, s.want)
		}
		for _, sum := range m.Workers() {
			if sum.GetWorkerId() == "w1" && sum.GetWorkerType() != s.want {
				t.Errorf("%s: summary worker_type = %q, want %q", s.name, sum.GetWorkerType(), s.want)
			}
		}
	}
	if got := mustWorker(t, m, "w2").GetWorkerType(); got != "other" {
		t.Errorf("w2 worker_type = %q, want %q", got, "other")
	}
	m.Heartbeat("", "legacy-type")
	if got := mustWorker(t, m, "legacy").GetWorkerType(); got != "legacy-type" {
		t.Errorf("legacy worker_type = %q, want %q", got, "legacy-type")
	}
}

// ---------------------------------------------------------------------------
// Ring buffers.
// ---------------------------------------------------------------------------

func TestPerWorkerRingBuffers(t *testing.T) {
	t.Parallel()
	const n = 7
	opts := manager.Options{ErrorsPerWorker: 3, LogsPerWorker: 4, CompletionsPerWorker: 2, FleetEvents: 100}
	m, c := newManager(opts)
	for i := range n {
		c.Advance(time.Second)
		m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: fmt.Sprint("e", i)})
		m.ReportLog(&musterv1.LogEntry{WorkerId: "w1", Message: fmt.Sprint("l", i)})
		m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w1", DioceseName: fmt.Sprint("c", i)})
		m.ReportError(&musterv1.ErrorEvent{WorkerId: "w2", Message: fmt.Sprint("other", i)})
	}
	w := mustWorker(t, m, "w1")
	var gotE, gotL, gotC []string
	for _, e := range w.GetRecentErrors() {
		gotE = append(gotE, e.GetMessage())
	}
	for _, l := range w.GetRecentLogs() {
		gotL = append(gotL, l.GetMessage())
	}
	for _, c := range w.GetExtractionHistory() {
		gotC = append(gotC, c.GetDioceseName())
	}
	if want := []string{"e6", "e5", "e4"}; !slices.Equal(gotE, want) {
		t.Errorf("recent_errors = %v, want %v (newest first, ErrorsPerWorker=3)", gotE, want)
	}
	if want := []string{"l6", "l5", "l4", "l3"}; !slices.Equal(gotL, want) {
		t.Errorf("recent_logs = %v, want %v (newest first, LogsPerWorker=4)", gotL, want)
	}
	if want := []string{"c6", "c5"}; !slices.Equal(gotC, want) {
		t.Errorf("extraction_history = %v, want %v (newest first, CompletionsPerWorker=2)", gotC, want)
	}
	if got := len(mustWorker(t, m, "w2").GetRecentErrors()); got != 3 {
		t.Errorf("w2 holds %d errors, want 3", got)
	}
}

func TestPerWorkerRingBuffersBelowCapacity(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{ErrorsPerWorker: 5})
	m.Heartbeat("w1", "")
	if n := len(mustWorker(t, m, "w1").GetRecentErrors()); n != 0 {
		t.Errorf("new worker holds %d errors, want 0", n)
	}
	m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "a"})
	m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "b"})
	var got []string
	for _, e := range mustWorker(t, m, "w1").GetRecentErrors() {
		got = append(got, e.GetMessage())
	}
	if want := []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("recent_errors = %v, want %v", got, want)
	}
}

func TestRecent(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{FleetEvents: 4, ErrorsPerWorker: 1})
	// Six errors, alternating fleet-wide and per-worker; all count in the
	// fleet buffer.
	for i := range 6 {
		id := ""
		if i%2 == 1 {
			id = "w1"
		}
		m.ReportError(&musterv1.ErrorEvent{WorkerId: id, Message: fmt.Sprint("e", i)})
		m.ReportLog(&musterv1.LogEntry{WorkerId: id, Message: fmt.Sprint("l", i)})
		m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: id, DioceseName: fmt.Sprint("c", i)})
	}
	tests := []struct {
		n    int
		want []string // suffixes, newest first
	}{
		{-1, []string{"5", "4", "3", "2"}},
		{0, nil},
		{1, []string{"5"}},
		{3, []string{"5", "4", "3"}},
		{4, []string{"5", "4", "3", "2"}},
		{10, []string{"5", "4", "3", "2"}},
	}
	for _, tt := range tests {
		e, l, c := m.Recent(tt.n)
		var ge, gl, gc []string
		for _, x := range e {
			ge = append(ge, x.GetMessage()[1:])
		}
		for _, x := range l {
			gl = append(gl, x.GetMessage()[1:])
		}
		for _, x := range c {
			gc = append(gc, x.GetDioceseName()[1:])
		}
		if !slices.Equal(ge, tt.want) || !slices.Equal(gl, tt.want) || !slices.Equal(gc, tt.want) {
			t.Errorf("Recent(%d) = errors %v, logs %v, completions %v; want %v each", tt.n, ge, gl, gc, tt.want)
		}
	}
}

// ---------------------------------------------------------------------------
// Liveness.
// ---------------------------------------------------------------------------

func TestLivenessBoundaries(t *testing.T) {
	t.Parallel()
	type check struct {
		present bool
		health  musterv1.Health
		active  int32
		stale   int32
		total   int32
	}
	tests := []struct {
		name    string
		elapsed time.Duration // since the only update
		want    check
	}{
		{"just updated", 0, check{true, healthFresh, 1, 0, 1}},
		{"one second", time.Second, check{true, healthFresh, 1, 0, 1}},
		{"exactly stale_after is still fresh", staleAfter, check{true, healthFresh, 1, 0, 1}},
		{"just past stale_after is stale", staleAfter + time.Nanosecond, check{true, healthStale, 0, 1, 1}},
		{"well past stale_after", 30 * time.Minute, check{true, healthStale, 0, 1, 1}},
		{"exactly forget_after is still kept", forgetAfter, check{true, healthStale, 0, 1, 1}},
		{"just past forget_after is forgotten", forgetAfter + time.Nanosecond, check{false, 0, 0, 0, 0}},
		{"long gone", 48 * time.Hour, check{false, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		for _, steps := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/in %d steps", tt.name, steps), func(t *testing.T) {
				t.Parallel()
				m, c := newManager(manager.Options{})
				m.UpdateExtractionStatus("w1", ext(running, ptr("D"), 10, 100, 50))
				for i := range steps {
					// Advance in steps and look in between, so lazily
					// computed state is exercised too.
					d := tt.elapsed / time.Duration(steps)
					if i == steps-1 {
						d = tt.elapsed - d*time.Duration(steps-1)
					}
					c.Advance(d)
					m.Aggregate()
				}
				w, err := m.Worker("w1")
				if !tt.want.present {
					if !errors.Is(err, manager.ErrNotFound) {
						t.Errorf("Worker(w1) error = %v, want ErrNotFound", err)
					}
					if ws := m.Workers(); len(ws) != 0 {
						t.Errorf("Workers() = %v, want none", ids(ws))
					}
				} else {
					if err != nil {
						t.Fatalf("Worker(w1): %v", err)
					}
					if w.GetHealth() != tt.want.health {
						t.Errorf("Worker health = %v, want %v", w.GetHealth(), tt.want.health)
					}
					ws := m.Workers()
					if len(ws) != 1 || ws[0].GetHealth() != tt.want.health {
						t.Errorf("Workers() = %v, want w1 with health %v", ws, tt.want.health)
					} else if ws[0].GetStatus() != running {
						t.Errorf("stale worker's listed status = %v, want its last status RUNNING", ws[0].GetStatus())
					}
					if d := diff(at(0), w.GetLastUpdated()); d != "" {
						t.Errorf("last_updated mismatch (-want +got):\n%s", d)
					}
				}
				a := m.Aggregate().GetExtractionStatus()
				if a.GetActiveWorkers() != tt.want.active || a.GetStaleWorkers() != tt.want.stale || a.GetTotalWorkers() != tt.want.total {
					t.Errorf("aggregate active/stale/total = %d/%d/%d, want %d/%d/%d",
						a.GetActiveWorkers(), a.GetStaleWorkers(), a.GetTotalWorkers(),
						tt.want.active, tt.want.stale, tt.want.total)
				}
			})
		}
	}
}

func TestStaleWorkerExcludedFromAggregates(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.UpdateExtractionStatus("old", ext(running, ptr("Old"), 100, 200, 10))
	m.UpdateCircuitBreakers("old", map[string]*musterv1.CircuitBreaker{
		"db":   {State: bOpen, TotalRequests: 100, TotalSuccesses: 10, TotalFailures: 90, TotalBlocked: 7},
		"only": {State: bHalfOpen, TotalRequests: 1},
	})
	m.UpdatePerformance("old", &musterv1.PerformanceMetrics{ParishesPerMinute: 100, QueueSize: 100, PoolUtilization: 1, TotalRequests: 100, SuccessfulRequests: 100})
	c.Advance(4 * time.Minute)
	m.UpdateExtractionStatus("new", ext(paused, ptr("New"), 10, 40, 80))
	m.UpdateCircuitBreakers("new", map[string]*musterv1.CircuitBreaker{
		"db": {State: bClosed, TotalRequests: 10, TotalSuccesses: 9, TotalFailures: 1},
	})
	m.UpdatePerformance("new", &musterv1.PerformanceMetrics{ParishesPerMinute: 2, QueueSize: 3, PoolUtilization: 0.25, TotalRequests: 4, SuccessfulRequests: 3})
	c.Advance(2 * time.Minute) // "old" silent 6m: stale; "new" silent 2m: fresh

	want := &musterv1.Aggregate{
		ExtractionStatus: &musterv1.ExtractionAggregate{
			Status: paused, ActiveWorkers: 1, TotalWorkers: 2, StaleWorkers: 1,
			ParishesProcessed: 10, TotalParishes: 40, SuccessRate: 80, ProgressPercentage: 25,
			CurrentDiocese: ptr("New"),
		},
		CircuitBreakers: map[string]*musterv1.BreakerAggregate{
			"db": {State: bClosed, TotalRequests: 10, TotalSuccesses: 9, TotalFailures: 1, SuccessRate: 90, WorkersClosed: 1},
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{
			ParishesPerMinute: 2, QueueSize: 3, PoolUtilization: 0.25, TotalRequests: 4, SuccessfulRequests: 3, ReportingWorkers: 1,
		},
	}
	if d := diff(want, m.Aggregate()); d != "" {
		t.Errorf("aggregate with one stale worker mismatch (-want +got):\n%s", d)
	}
	if got := ids(m.Workers()); !slices.Equal(got, []string{"new", "old"}) {
		t.Errorf("Workers() = %v, want stale worker still listed", got)
	}

	// A heartbeat revives it with everything it had.
	m.Heartbeat("old", "")
	want = &musterv1.Aggregate{
		ExtractionStatus: &musterv1.ExtractionAggregate{
			Status: running, ActiveWorkers: 2, TotalWorkers: 2,
			ParishesProcessed: 110, TotalParishes: 240, SuccessRate: round1((100*10 + 10*80) / 110.0),
			ProgressPercentage: 110.0 / 240 * 100, CurrentDiocese: ptr("New, Old"),
		},
		CircuitBreakers: map[string]*musterv1.BreakerAggregate{
			"db": {
				State: bOpen, TotalRequests: 110, TotalSuccesses: 19, TotalFailures: 91, TotalBlocked: 7,
				SuccessRate: 17.3, WorkersClosed: 1, WorkersOpen: 1,
			},
			"only": {State: bHalfOpen, TotalRequests: 1, WorkersHalfOpen: 1},
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{
			ParishesPerMinute: 102, QueueSize: 103, PoolUtilization: 0.625, TotalRequests: 104, SuccessfulRequests: 103, ReportingWorkers: 2,
		},
	}
	if d := diff(want, m.Aggregate()); d != "" {
		t.Errorf("aggregate after revival mismatch (-want +got):\n%s", d)
	}
}

func TestSignsOfLifeRevive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(m *manager.Manager)
	}{
		{"heartbeat", func(m *manager.Manager) { m.Heartbeat("w1", "") }},
		{"heartbeat with type", func(m *manager.Manager) { m.Heartbeat("w1", "t") }},
		{"extraction status", func(m *manager.Manager) { m.UpdateExtractionStatus("w1", ext(running, nil, 5, 10, 50)) }},
		{"circuit breakers", func(m *manager.Manager) {
			m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{"other": {}})
		}},
		{"empty circuit breakers", func(m *manager.Manager) { m.UpdateCircuitBreakers("w1", nil) }},
		{"performance", func(m *manager.Manager) { m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{QueueSize: 1}) }},
		{"error", func(m *manager.Manager) { m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1"}) }},
		{"log", func(m *manager.Manager) { m.ReportLog(&musterv1.LogEntry{WorkerId: "w1"}) }},
		{"completion", func(m *manager.Manager) { m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w1"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			m.UpdateExtractionStatus("w1", ext(running, nil, 5, 10, 50))
			m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{"db": {State: bOpen, TotalRequests: 3}})
			c.Advance(staleAfter + time.Minute)
			if h := mustWorker(t, m, "w1").GetHealth(); h != healthStale {
				t.Fatalf("health before = %v, want STALE", h)
			}
			if _, ok := m.Aggregate().GetCircuitBreakers()["db"]; ok {
				t.Error("stale worker's breaker still in the aggregate")
			}
			tt.do(m)
			w := mustWorker(t, m, "w1")
			if w.GetHealth() != healthFresh {
				t.Errorf("health after = %v, want FRESH", w.GetHealth())
			}
			if d := diff(at(staleAfter+time.Minute), w.GetLastUpdated()); d != "" {
				t.Errorf("last_updated mismatch (-want +got):\n%s", d)
			}
			a := m.Aggregate()
			if e := a.GetExtractionStatus(); e.GetActiveWorkers() != 1 || e.GetStaleWorkers() != 0 || e.GetParishesProcessed() != 5 {
				t.Errorf("after revival active %d stale %d processed %d, want 1, 0, 5",
					e.GetActiveWorkers(), e.GetStaleWorkers(), e.GetParishesProcessed())
			}
			want := &musterv1.BreakerAggregate{State: bOpen, TotalRequests: 3, WorkersOpen: 1}
			if d := diff(want, a.GetCircuitBreakers()["db"]); d != "" {
				t.Errorf("db breaker after revival mismatch (-want +got):\n%s", d)
			}
			// Fresh again for a full stale_after from the sign of life.
			c.Advance(staleAfter)
			if h := mustWorker(t, m, "w1").GetHealth(); h != healthFresh {
				t.Errorf("health stale_after after revival = %v, want FRESH", h)
			}
			c.Advance(time.Nanosecond)
			if h := mustWorker(t, m, "w1").GetHealth(); h != healthStale {
				t.Errorf("health just past stale_after after revival = %v, want STALE", h)
			}
		})
	}
}

func TestReadsAreNotSignsOfLife(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	for range 10 {
		c.Advance(time.Minute)
		m.Worker("w1")
		m.Workers()
		m.Aggregate()
		m.Recent(-1)
		m.TakeChanges()
		m.Sweep()
	}
	if h := mustWorker(t, m, "w1").GetHealth(); h != healthStale {
		t.Errorf("health after 10 minutes of reads = %v, want STALE", h)
	}
}

func TestForgetAfterRefreshedWorker(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	m.Heartbeat("w2", "")
	c.Advance(forgetAfter - time.Minute)
	m.Heartbeat("w1", "") // w1 refreshed; w2 not
	c.Advance(2 * time.Minute)
	if got := ids(m.Workers()); !slices.Equal(got, []string{"w1"}) {
		t.Errorf("Workers() = %v, want [w1]", got)
	}
	if _, err := m.Worker("w2"); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("Worker(w2) error = %v, want ErrNotFound", err)
	}
	// A forgotten worker that reports again starts afresh.
	m.ReportLog(&musterv1.LogEntry{WorkerId: "w2", Message: "back"})
	w2 := mustWorker(t, m, "w2")
	if w2.GetHealth() != healthFresh || len(w2.GetRecentLogs()) != 1 || w2.GetExtractionStatus() != nil {
		t.Errorf("re-created w2 = %v, want fresh with one log and no status", w2)
	}
}

func TestForget(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateExtractionStatus("w1", ext(running, ptr("A"), 10, 20, 50))
	m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{"db": {State: bOpen}})
	m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{QueueSize: 5})
	m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "kept in fleet buffer"})
	m.UpdateExtractionStatus("w2", ext(paused, ptr("B"), 1, 2, 100))

	if err := m.Forget("w1"); err != nil {
		t.Fatalf("Forget(w1): %v", err)
	}
	if _, err := m.Worker("w1"); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("Worker(w1) error = %v, want ErrNotFound", err)
	}
	if err := m.Forget("w1"); !errors.Is(err, manager.ErrNotFound) {
		t.Errorf("second Forget(w1) error = %v, want ErrNotFound", err)
	}
	if got := ids(m.Workers()); !slices.Equal(got, []string{"w2"}) {
		t.Errorf("Workers() = %v, want [w2]", got)
	}
	want := &musterv1.Aggregate{
		ExtractionStatus: &musterv1.ExtractionAggregate{
			Status: paused, ActiveWorkers: 1, TotalWorkers: 1, ParishesProcessed: 1, TotalParishes: 2,
			SuccessRate: 100, ProgressPercentage: 50, CurrentDiocese: ptr("B"),
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{},
	}
	if d := diff(want, m.Aggregate()); d != "" {
		t.Errorf("aggregate after Forget mismatch (-want +got):\n%s", d)
	}
	if e, _, _ := m.Recent(-1); len(e) != 1 {
		t.Errorf("fleet errors after Forget = %d, want 1 (history is kept)", len(e))
	}
	m.UpdateExtractionStatus("w3", ext(running, nil, 1, 1, 1))
	if err := m.Forget("w2"); err != nil {
		t.Fatalf("Forget(w2): %v", err)
	}
	if err := m.Forget("w3"); err != nil {
		t.Fatalf("Forget(w3): %v", err)
	}
	if d := diff(&musterv1.Aggregate{
		ExtractionStatus:   &musterv1.ExtractionAggregate{Status: idle},
		PerformanceMetrics: &musterv1.PerformanceAggregate{},
	}, m.Aggregate()); d != "" {
		t.Errorf("aggregate after forgetting all mismatch (-want +got):\n%s", d)
	}
}

func TestForgetStaleWorker(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.UpdateExtractionStatus("w1", ext(running, nil, 1, 1, 1))
	c.Advance(staleAfter + time.Second)
	m.Heartbeat("w2", "")
	if err := m.Forget("w1"); err != nil {
		t.Fatalf("Forget(w1): %v", err)
	}
	a := m.Aggregate().GetExtractionStatus()
	if a.GetTotalWorkers() != 1 || a.GetStaleWorkers() != 0 || a.GetActiveWorkers() != 0 {
		t.Errorf("total/stale/active = %d/%d/%d, want 1/0/0", a.GetTotalWorkers(), a.GetStaleWorkers(), a.GetActiveWorkers())
	}
	// Liveness keeps working for the rest after a removal from the middle.
	c.Advance(staleAfter + time.Second)
	if a := m.Aggregate().GetExtractionStatus(); a.GetStaleWorkers() != 1 {
		t.Errorf("stale workers = %d, want 1", a.GetStaleWorkers())
	}
}

// ---------------------------------------------------------------------------
// TakeChanges and Restore.
// ---------------------------------------------------------------------------

func TestTakeChanges(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	take := func() ([]string, []string) {
		puts, dels := m.TakeChanges()
		var p []string
		for _, w := range puts {
			p = append(p, w.GetWorkerId())
			// Every put is the worker's full current status.
			cur, err := m.Worker(w.GetWorkerId())
			if err != nil {
				t.Errorf("put for unknown worker %q", w.GetWorkerId())
			} else if d := diff(cur, w); d != "" {
				t.Errorf("put for %q differs from Worker() (-worker +put):\n%s", w.GetWorkerId(), d)
			}
		}
		return p, dels
	}
	steps := []struct {
		name      string
		do        func()
		puts, del []string
	}{
		{"nothing yet", func() {}, nil, nil},
		{"updates", func() {
			m.UpdateExtractionStatus("w2", ext(running, nil, 1, 2, 3))
			m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{"db": {}})
			m.UpdatePerformance("w3", &musterv1.PerformanceMetrics{})
			m.UpdateExtractionStatus("w2", ext(running, nil, 2, 2, 3))
		}, []string{"w1", "w2", "w3"}, nil},
		{"taken once", func() {}, nil, nil},
		{"heartbeat", func() { m.Heartbeat("w1", "") }, []string{"w1"}, nil},
		{"worker events", func() {
			m.ReportError(&musterv1.ErrorEvent{WorkerId: "w2"})
			m.ReportLog(&musterv1.LogEntry{WorkerId: "w3", WorkerType: "x"})
			m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w4"})
		}, []string{"w2", "w3", "w4"}, nil},
		{"fleet-wide events", func() {
			m.ReportError(&musterv1.ErrorEvent{})
			m.ReportLog(&musterv1.LogEntry{})
			m.ReportCompletion(&musterv1.CompletedExtraction{})
		}, nil, nil},
		{"reads and mode", func() { m.Workers(); m.Aggregate(); m.SetAggregateMode(false) }, nil, nil},
		{"forget", func() { _ = m.Forget("w4") }, nil, []string{"w4"}},
		{"update then forget", func() {
			m.Heartbeat("w3", "")
			_ = m.Forget("w3")
		}, nil, []string{"w3"}},
		{"forget then recreate", func() {
			_ = m.Forget("w2")
			m.Heartbeat("w2", "")
		}, []string{"w2"}, nil},
		{"forgotten by time", func() {
			c.Advance(forgetAfter / 2)
			m.Heartbeat("w2", "")
			c.Advance(forgetAfter/2 + time.Second)
		}, []string{"w2"}, []string{"w1"}},
	}
	for _, s := range steps {
		s.do()
		puts, dels := take()
		if !slices.Equal(puts, s.puts) || !slices.Equal(dels, s.del) {
			t.Errorf("%s: TakeChanges() = puts %v deletes %v, want puts %v deletes %v", s.name, puts, dels, s.puts, s.del)
		}
	}
}

// store applies TakeChanges to a map, as a persistent store would.
type store map[string]*musterv1.WorkerStatus

func (s store) take(m *manager.Manager) {
	puts, dels := m.TakeChanges()
	for _, id := range dels {
		delete(s, id)
	}
	for _, w := range puts {
		s[w.GetWorkerId()] = proto.Clone(w).(*musterv1.WorkerStatus)
	}
}

func (s store) list() []*musterv1.WorkerStatus {
	out := make([]*musterv1.WorkerStatus, 0, len(s))
	for _, w := range s {
		out = append(out, proto.Clone(w).(*musterv1.WorkerStatus))
	}
	return out
}

// populate gives m a varied fleet; it returns the time of the last update.
func populate(m *manager.Manager, c *fakeclock.Clock) {
	m.UpdateExtractionStatus("w1", &musterv1.ExtractionStatus{
		Status: running, CurrentDiocese: ptr("A"), ParishesProcessed: 100, TotalParishes: 300, SuccessRate: 90,
		StartedAt: at(-2 * time.Hour), EstimatedCompletion: at(time.Hour),
	})
	m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{
		"db":   {State: bOpen, TotalRequests: 10, TotalSuccesses: 2, TotalFailures: 8, TotalBlocked: 4},
		"http": {State: bClosed, TotalRequests: 5, TotalSuccesses: 5},
	})
	m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{ParishesPerMinute: 4, QueueSize: 2, PoolUtilization: 0.5, TotalRequests: 15, SuccessfulRequests: 7})
	m.Heartbeat("w1", "extraction")
	for i := range 4 {
		m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: fmt.Sprint("e", i), Diocese: ptr("A")})
		m.ReportLog(&musterv1.LogEntry{WorkerId: "w1", Message: fmt.Sprint("l", i), Level: "INFO"})
		m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w1", DioceseName: fmt.Sprint("d", i), ParishName: ptr("p")})
	}
	c.Advance(time.Minute)
	m.UpdateExtractionStatus("", ext(paused, ptr("L"), 50, 200, 80))
	m.UpdateCircuitBreakers("", map[string]*musterv1.CircuitBreaker{"db": {State: bHalfOpen, TotalRequests: 3, TotalSuccesses: 3}})
	m.ReportError(&musterv1.ErrorEvent{Message: "fleet-wide"})
	c.Advance(time.Minute)
	m.UpdateExtractionStatus("w0", ext(idle, nil, 0, 0, 0))
	m.UpdatePerformance("w0", &musterv1.PerformanceMetrics{ParishesPerMinute: 1, PoolUtilization: 1})
}

func TestRestoreReproducesState(t *testing.T) {
	t.Parallel()
	opts := manager.Options{ErrorsPerWorker: 3, LogsPerWorker: 3, CompletionsPerWorker: 3}
	m1, c1 := newManager(opts)
	populate(m1, c1)
	st := store{}
	st.take(m1)
	if len(st) != 3 {
		t.Fatalf("TakeChanges gave %d workers, want 3", len(st))
	}

	m2, c2 := newManager(opts)
	c2.Advance(c1.Now().Sub(t0))
	m2.Restore(st.list())

	if d := diff(m1.Workers(), m2.Workers()); d != "" {
		t.Errorf("restored Workers() mismatch (-original +restored):\n%s", d)
	}
	for _, id := range []string{"w0", "w1", "legacy"} {
		if d := diff(mustWorker(t, m1, id), mustWorker(t, m2, id)); d != "" {
			t.Errorf("restored Worker(%q) mismatch (-original +restored):\n%s", id, d)
		}
	}
	if d := diff(m1.Aggregate(), m2.Aggregate()); d != "" {
		t.Errorf("restored Aggregate() mismatch (-original +restored):\n%s", d)
	}
	// The fleet-wide buffers come back from the workers' saved events,
	// newest first: those still in a worker's buffer, no others.
	_, _, done1 := m1.Recent(-1)
	_, _, done2 := m2.Recent(-1)
	var saved int
	for _, w := range st.list() {
		saved += len(w.GetExtractionHistory())
	}
	if len(done2) != saved {
		t.Errorf("restored fleet completions = %d, want the %d saved with workers", len(done2), saved)
	}
	for i, e := range done2 {
		if !slices.ContainsFunc(done1, func(o *musterv1.CompletedExtraction) bool { return diff(o, e) == "" }) {
			t.Errorf("restored fleet completion %v was never reported", e)
		}
		if i > 0 && e.GetTimestamp().AsTime().After(done2[i-1].GetTimestamp().AsTime()) {
			t.Errorf("restored fleet completions not newest first at %d", i)
		}
	}
	// Liveness resumes from the saved last_updated: w1 was last seen 2m
	// before the restore, so it goes stale 3m (+1ns) later.
	c2.Advance(3 * time.Minute)
	if h := mustWorker(t, m2, "w1").GetHealth(); h != healthFresh {
		t.Errorf("w1 health 5m after its last update = %v, want FRESH", h)
	}
	c2.Advance(time.Nanosecond)
	if h := mustWorker(t, m2, "w1").GetHealth(); h != healthStale {
		t.Errorf("w1 health just past 5m after its last update = %v, want STALE", h)
	}
	// Events keep their order and new ones go on top.
	m2.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "new"})
	var got []string
	for _, e := range mustWorker(t, m2, "w1").GetRecentErrors() {
		got = append(got, e.GetMessage())
	}
	if want := []string{"new", "e3", "e2"}; !slices.Equal(got, want) {
		t.Errorf("restored w1 errors after a new one = %v, want %v", got, want)
	}
}

func TestRestoreLiveness(t *testing.T) {
	t.Parallel()
	saved := func(id string, lastSeen time.Duration, st *musterv1.ExtractionStatus) *musterv1.WorkerStatus {
		return &musterv1.WorkerStatus{
			WorkerId: id, ExtractionStatus: st, LastUpdated: at(lastSeen),
			Health: healthFresh, // whatever was saved, health is recomputed
			CircuitBreakers: map[string]*musterv1.CircuitBreaker{
				"db": {State: bOpen, TotalRequests: 10, TotalSuccesses: 5},
			},
			PerformanceMetrics: &musterv1.PerformanceMetrics{QueueSize: 10},
		}
	}
	m, c := newManager(manager.Options{})
	// Given out of last-seen order on purpose.
	m.Restore([]*musterv1.WorkerStatus{
		saved("recent", -time.Minute, ext(running, ptr("R"), 10, 20, 50)),
		saved("gone", -forgetAfter-time.Second, ext(running, ptr("G"), 1, 1, 1)),
		saved("stale", -staleAfter-time.Second, ext(running, ptr("S"), 100, 100, 100)),
		saved("older", -4*time.Minute, ext(paused, ptr("O"), 30, 80, 70)),
	})
	sums := m.Workers()
	got := map[string]musterv1.Health{}
	for _, s := range sums {
		got[s.GetWorkerId()] = s.GetHealth()
	}
	want := map[string]musterv1.Health{"older": healthFresh, "recent": healthFresh, "stale": healthStale}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("restored health mismatch (-want +got):\n%s", d)
	}
	wantAgg := &musterv1.Aggregate{
		ExtractionStatus: &musterv1.ExtractionAggregate{
			Status: running, ActiveWorkers: 2, TotalWorkers: 3, StaleWorkers: 1,
			ParishesProcessed: 40, TotalParishes: 100, SuccessRate: round1((10*50 + 30*70) / 40.0),
			ProgressPercentage: 40, CurrentDiocese: ptr("O, R"),
		},
		CircuitBreakers: map[string]*musterv1.BreakerAggregate{
			"db": {State: bOpen, TotalRequests: 20, TotalSuccesses: 10, SuccessRate: 50, WorkersOpen: 2},
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{QueueSize: 20, ReportingWorkers: 2},
	}
	if d := diff(wantAgg, m.Aggregate()); d != "" {
		t.Errorf("restored aggregate mismatch (-want +got):\n%s", d)
	}
	// The sweep must see "older" go stale before "recent", whatever the
	// input order was.
	c.Advance(time.Minute + time.Second) // older silent 5m1s, recent 2m1s
	if h := mustWorker(t, m, "older").GetHealth(); h != healthStale {
		t.Errorf("older health = %v, want STALE", h)
	}
	if h := mustWorker(t, m, "recent").GetHealth(); h != healthFresh {
		t.Errorf("recent health = %v, want FRESH", h)
	}
	// A restored stale worker is revived by a sign of life.
	m.Heartbeat("stale", "")
	if a := m.Aggregate().GetExtractionStatus(); a.GetActiveWorkers() != 2 || a.GetParishesProcessed() != 110 {
		t.Errorf("after revival active %d processed %d, want 2 and 110", a.GetActiveWorkers(), a.GetParishesProcessed())
	}
	_, dels := m.TakeChanges()
	if !slices.Equal(dels, []string{"gone"}) {
		t.Errorf("TakeChanges deletes after restore = %v, want [gone]", dels)
	}
}

// ---------------------------------------------------------------------------
// Concurrency (meaningful under -race).
// ---------------------------------------------------------------------------

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{FeedSize: 64})
	ctx, cancel := contextWithCancel(t)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		w := m.Watch("w0-1")
		defer w.Close()
		for ctx.Err() == nil {
			if _, err := w.Next(ctx); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 300 {
				id := fmt.Sprintf("w%d-%d", g, rng.IntN(4))
				switch rng.IntN(9) {
				case 0:
					m.UpdateExtractionStatus(id, ext(running, ptr(fmt.Sprint("d", g)), int64(i), int64(i+10), 50))
				case 1:
					m.UpdateCircuitBreakers(id, map[string]*musterv1.CircuitBreaker{"db": {State: bOpen, TotalRequests: int64(i)}})
				case 2:
					m.UpdatePerformance(id, &musterv1.PerformanceMetrics{QueueSize: int64(i)})
				case 3:
					m.Heartbeat(id, "t")
				case 4:
					m.ReportError(&musterv1.ErrorEvent{WorkerId: id})
				case 5:
					m.ReportLog(&musterv1.LogEntry{})
				case 6:
					_ = m.Forget(id)
				case 7:
					m.Aggregate()
					m.Workers()
					m.Worker(id)
					m.Recent(5)
				case 8:
					c.Advance(time.Second)
					m.TakeChanges()
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-watchDone
	if d := diff(refFromManager(t, m), m.Aggregate()); d != "" {
		t.Errorf("aggregate after concurrent use mismatch (-reference +got):\n%s", d)
	}
	if n := m.Watchers(); n != 0 {
		t.Errorf("Watchers() = %d after close, want 0", n)
	}
}
