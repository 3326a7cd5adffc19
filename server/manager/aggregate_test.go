package manager_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/fakeclock"
	"github.com/musterhq/muster/server/manager"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ---------------------------------------------------------------------------
// Reference aggregate, written from CONTRACT §4 and computed from scratch.
// ---------------------------------------------------------------------------

// refWorker is what the reference needs to know about one known worker.
type refWorker struct {
	id       string
	fresh    bool
	status   *musterv1.ExtractionStatus
	breakers map[string]*musterv1.CircuitBreaker
	perf     *musterv1.PerformanceMetrics
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func breakerRank(s musterv1.BreakerState) int {
	switch s {
	case bOpen:
		return 3
	case bHalfOpen:
		return 2
	default: // CLOSED, or unset which means CLOSED
		return 1
	}
}

// refAggregate computes the fleet aggregate of CONTRACT §4 over ws (the
// workers that are not forgotten).
func refAggregate(ws []refWorker) *musterv1.Aggregate {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b refWorker) int { return strings.Compare(a.id, b.id) })

	ext := &musterv1.ExtractionAggregate{Status: idle}
	var anyRunning, anyPaused bool
	var weighted float64
	var weightedOver int64
	var dioceses []string
	var started *timestamppb.Timestamp
	breakers := map[string]*musterv1.BreakerAggregate{}
	perf := &musterv1.PerformanceAggregate{}
	var pool float64

	for _, w := range ws {
		ext.TotalWorkers++
		if !w.fresh {
			ext.StaleWorkers++
			continue // stale workers count in nothing else
		}
		// Breakers: per name, over fresh workers that report it.
		for name, b := range w.breakers {
			if b == nil {
				continue
			}
			agg := breakers[name]
			if agg == nil {
				agg = &musterv1.BreakerAggregate{State: bClosed}
				breakers[name] = agg
			}
			switch breakerRank(b.GetState()) {
			case 3:
				agg.WorkersOpen++
			case 2:
				agg.WorkersHalfOpen++
			default:
				agg.WorkersClosed++
			}
			if breakerRank(b.GetState()) > breakerRank(agg.State) {
				agg.State = b.GetState()
			}
			agg.TotalRequests += b.GetTotalRequests()
			agg.TotalSuccesses += b.GetTotalSuccesses()
			agg.TotalFailures += b.GetTotalFailures()
			agg.TotalBlocked += b.GetTotalBlocked()
		}
		// Performance: sums over fresh workers, mean utilisation.
		if p := w.perf; p != nil {
			perf.ReportingWorkers++
			perf.ParishesPerMinute += p.GetParishesPerMinute()
			perf.QueueSize += p.GetQueueSize()
			perf.TotalRequests += p.GetTotalRequests()
			perf.SuccessfulRequests += p.GetSuccessfulRequests()
			pool += p.GetPoolUtilization()
		}
		// Extraction: over active workers.
		st := w.status
		switch st.GetStatus() {
		case running:
			anyRunning = true
		case paused:
			anyPaused = true
		default:
			continue
		}
		ext.ActiveWorkers++
		ext.ParishesProcessed += st.GetParishesProcessed()
		ext.TotalParishes += st.GetTotalParishes()
		if n := st.GetParishesProcessed(); n > 0 {
			weighted += st.GetSuccessRate() * float64(n)
			weightedOver += n
		}
		if d := st.GetCurrentDiocese(); d != "" && !slices.Contains(dioceses, d) {
			dioceses = append(dioceses, d)
		}
		if s := st.GetStartedAt(); s != nil && (started == nil || s.AsTime().Before(started.AsTime())) {
			started = s
		}
	}
	switch {
	case anyRunning:
		ext.Status = running
	case anyPaused:
		ext.Status = paused
	}
	if weightedOver > 0 {
		ext.SuccessRate = round1(weighted / float64(weightedOver))
	}
	if ext.TotalParishes > 0 {
		ext.ProgressPercentage = float64(ext.ParishesProcessed) / float64(ext.TotalParishes) * 100
	}
	if len(dioceses) > 0 {
		ext.CurrentDiocese = proto.String(strings.Join(dioceses, ", "))
	}
	ext.StartedAt = started
	for _, b := range breakers {
		if b.TotalRequests > 0 {
			b.SuccessRate = round1(float64(b.TotalSuccesses) / float64(b.TotalRequests) * 100)
		}
	}
	if perf.ReportingWorkers > 0 {
		perf.PoolUtilization = pool / float64(perf.ReportingWorkers)
	}
	return &musterv1.Aggregate{ExtractionStatus: ext, CircuitBreakers: breakers, PerformanceMetrics: perf}
}

// refFromManager computes the reference aggregate from what the manager
// reports about each worker.
func refFromManager(t *testing.T, m *manager.Manager) *musterv1.Aggregate {
	t.Helper()
	var ws []refWorker
	for _, s := range m.Workers() {
		w, err := m.Worker(s.GetWorkerId())
		if err != nil {
			t.Fatalf("Worker(%q) listed by Workers(): %v", s.GetWorkerId(), err)
		}
		ws = append(ws, refWorker{
			id:       w.GetWorkerId(),
			fresh:    w.GetHealth() == healthFresh,
			status:   w.GetExtractionStatus(),
			breakers: w.GetCircuitBreakers(),
			perf:     w.GetPerformanceMetrics(),
		})
	}
	return refAggregate(ws)
}

// checkAgainstReference compares the manager's aggregate with the reference.
func checkAgainstReference(t *testing.T, m *manager.Manager) {
	t.Helper()
	if d := diff(refFromManager(t, m), m.Aggregate()); d != "" {
		t.Errorf("Aggregate() differs from the reference (-reference +got):\n%s", d)
	}
}

// ---------------------------------------------------------------------------
// Extraction status aggregate.
// ---------------------------------------------------------------------------

type extCase struct {
	name string
	ops  []op
	want *musterv1.ExtractionAggregate
}

func runExtCases(t *testing.T, tests []extCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			run(m, c, tt.ops)
			if d := diff(tt.want, m.Aggregate().GetExtractionStatus()); d != "" {
				t.Errorf("extraction aggregate mismatch (-want +got):\n%s", d)
			}
			// The reference must agree with the hand-computed value too.
			if d := diff(tt.want, refFromManager(t, m).GetExtractionStatus()); d != "" {
				t.Errorf("test reference disagrees with the expected value (-want +reference):\n%s", d)
			}
		})
	}
}

func TestAggregateWorkedExample(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateExtractionStatus("A", ext(running, nil, 100, 300, 90))
	m.UpdateExtractionStatus("B", ext(running, nil, 50, 200, 80))
	m.UpdateExtractionStatus("C", ext(idle, nil, 0, 0, 0))
	want := &musterv1.Aggregate{
		ExtractionStatus: &musterv1.ExtractionAggregate{
			Status: running, ActiveWorkers: 2, TotalWorkers: 3,
			ParishesProcessed: 150, TotalParishes: 500, SuccessRate: 86.7, ProgressPercentage: 30.0,
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{},
	}
	if d := diff(want, m.Aggregate()); d != "" {
		t.Errorf("worked example mismatch (-want +got):\n%s", d)
	}
	// Exactly one decimal, not merely close.
	if got := m.Aggregate().GetExtractionStatus().GetSuccessRate(); got != 86.7 {
		t.Errorf("success_rate = %v, want exactly 86.7", got)
	}
}

func TestAggregateStatusPrecedence(t *testing.T) {
	t.Parallel()
	s := func(state musterv1.ExtractionState) *musterv1.ExtractionStatus { return ext(state, nil, 0, 0, 0) }
	runExtCases(t, []extCase{
		{"no workers", nil, &musterv1.ExtractionAggregate{Status: idle}},
		{
			"running beats paused and idle",
			[]op{setStatus("w1", s(paused)), setStatus("w2", s(running)), setStatus("w3", s(idle))},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 2, TotalWorkers: 3},
		},
		{
			"running listed last still wins",
			[]op{setStatus("a", s(paused)), setStatus("b", s(paused)), setStatus("z", s(running))},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 3, TotalWorkers: 3},
		},
		{
			"paused beats idle, completed and error",
			[]op{setStatus("w1", s(idle)), setStatus("w2", s(paused)), setStatus("w3", s(completed)), setStatus("w4", s(failed))},
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 4},
		},
		{
			"only inactive states give idle",
			[]op{
				setStatus("w1", s(idle)), setStatus("w2", s(completed)), setStatus("w3", s(failed)),
				setStatus("w4", s(staleState)), setStatus("w5", s(unspecified)),
			},
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 5},
		},
		{
			"workers without a status are idle",
			[]op{heartbeat("w1"), setPerf("w2", &musterv1.PerformanceMetrics{})},
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 2},
		},
		{
			"a stale running worker does not make the fleet running",
			[]op{setStatus("w1", s(running)), advance(staleAfter + time.Second), setStatus("w2", s(paused))},
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 2, StaleWorkers: 1},
		},
		{
			"all stale is idle",
			[]op{setStatus("w1", s(running)), setStatus("w2", s(paused)), advance(staleAfter + time.Second)},
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 2, StaleWorkers: 2},
		},
		{
			"a worker that stops running no longer counts",
			[]op{setStatus("w1", s(running)), setStatus("w2", s(paused)), setStatus("w1", s(completed))},
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 2},
		},
	})
}

func TestAggregateWorkerCounts(t *testing.T) {
	t.Parallel()
	s := func(state musterv1.ExtractionState) *musterv1.ExtractionStatus { return ext(state, nil, 0, 0, 0) }
	runExtCases(t, []extCase{
		{
			"mixed fleet",
			[]op{
				setStatus("r1", s(running)), setStatus("p1", s(paused)), heartbeat("h1"),
				advance(staleAfter + time.Second),
				setStatus("r2", s(running)), setStatus("i1", s(idle)), setStatus("c1", s(completed)),
			},
			// r1, p1, h1 stale; r2 active; i1, c1 fresh and inactive.
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 6, StaleWorkers: 3},
		},
		{
			"forgotten workers are not counted",
			[]op{
				setStatus("old", s(running)), advance(forgetAfter + time.Second),
				setStatus("new", s(running)), heartbeat("other"), forget("other"),
			},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1},
		},
		{
			"legacy counts like any worker",
			[]op{setStatus("", s(running)), setStatus("w1", s(running))},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 2, TotalWorkers: 2},
		},
		{
			"revived worker is active again",
			[]op{setStatus("w1", s(paused)), advance(staleAfter + time.Second), heartbeat("w1")},
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 1},
		},
	})
}

func TestAggregateSums(t *testing.T) {
	t.Parallel()
	runExtCases(t, []extCase{
		{
			"only active workers are summed",
			[]op{
				setStatus("a", ext(running, nil, 10, 100, 50)),
				setStatus("b", ext(completed, nil, 1000, 1000, 100)),
				setStatus("c", ext(failed, nil, 5, 10, 0)),
				setStatus("d", ext(paused, nil, 30, 100, 70)),
				setStatus("e", ext(idle, nil, 7, 9, 10)),
			},
			// (10×50 + 30×70) / 40 = 65.0; 40 / 200 = 20 %.
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 2, TotalWorkers: 5,
				ParishesProcessed: 40, TotalParishes: 200, SuccessRate: 65, ProgressPercentage: 20,
			},
		},
		{
			"workers with nothing processed do not dilute the rate",
			[]op{
				setStatus("a", ext(running, nil, 0, 100, 0)),
				setStatus("b", ext(running, nil, 20, 100, 95)),
				setStatus("c", ext(paused, nil, 0, 0, 50)),
			},
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 3, TotalWorkers: 3,
				ParishesProcessed: 20, TotalParishes: 200, SuccessRate: 95, ProgressPercentage: 10,
			},
		},
		{
			"rate is weighted by work done, not averaged",
			[]op{
				setStatus("a", ext(running, nil, 1, 10, 0)),
				setStatus("b", ext(running, nil, 99, 90, 100)),
			},
			// plain mean would be 50.0
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 2, TotalWorkers: 2,
				ParishesProcessed: 100, TotalParishes: 100, SuccessRate: 99, ProgressPercentage: 100,
			},
		},
		{
			"rate rounds up to one decimal",
			[]op{
				setStatus("a", ext(running, nil, 2, 8, 100)),
				setStatus("b", ext(running, nil, 1, 2, 0)),
			},
			// 200 / 3 = 66.666… -> 66.7; 3 / 10 = 30 %.
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 2, TotalWorkers: 2,
				ParishesProcessed: 3, TotalParishes: 10, SuccessRate: 66.7, ProgressPercentage: 30,
			},
		},
		{
			"rate rounds down to one decimal",
			[]op{
				setStatus("a", ext(running, nil, 1, 4, 100)),
				setStatus("b", ext(paused, nil, 2, 4, 0)),
			},
			// 100 / 3 = 33.333… -> 33.3; 3 / 8 = 37.5 %.
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 2, TotalWorkers: 2,
				ParishesProcessed: 3, TotalParishes: 8, SuccessRate: 33.3, ProgressPercentage: 37.5,
			},
		},
		{
			"a single worker's fractional rate is rounded",
			[]op{setStatus("a", ext(running, nil, 4, 5, 87.6543))},
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 1, TotalWorkers: 1,
				ParishesProcessed: 4, TotalParishes: 5, SuccessRate: 87.7, ProgressPercentage: 80,
			},
		},
		{
			"zero total gives zero progress",
			[]op{setStatus("a", ext(running, nil, 0, 0, 80))},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1},
		},
		{
			"nothing processed gives zero rate",
			[]op{setStatus("a", ext(running, nil, 0, 10, 90)), setStatus("b", ext(paused, nil, 0, 10, 70))},
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 2, TotalWorkers: 2, TotalParishes: 20},
		},
		{
			"stale workers are not summed",
			[]op{
				setStatus("a", ext(running, nil, 100, 200, 50)),
				advance(staleAfter + time.Second),
				setStatus("b", ext(running, nil, 10, 100, 80)),
			},
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 1, TotalWorkers: 2, StaleWorkers: 1,
				ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 80, ProgressPercentage: 10,
			},
		},
		{
			"a replaced status replaces its contribution",
			[]op{
				setStatus("a", ext(running, nil, 100, 200, 50)),
				setStatus("b", ext(running, nil, 10, 100, 80)),
				setStatus("a", ext(running, nil, 150, 250, 60)),
				setStatus("b", ext(idle, nil, 10, 100, 80)),
			},
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 1, TotalWorkers: 2,
				ParishesProcessed: 150, TotalParishes: 250, SuccessRate: 60, ProgressPercentage: 60,
			},
		},
		{
			"everybody stops: sums go back to zero",
			[]op{
				setStatus("a", ext(running, nil, 3, 7, 33.3)),
				setStatus("b", ext(paused, nil, 11, 13, 71.1)),
				setStatus("a", ext(completed, nil, 7, 7, 33.3)),
				advance(staleAfter + time.Second),
			},
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 2, StaleWorkers: 2},
		},
		{
			"worker's own progress_percentage is ignored",
			[]op{setStatus("a", &musterv1.ExtractionStatus{
				Status: running, ParishesProcessed: 1, TotalParishes: 4, SuccessRate: 100, ProgressPercentage: 99,
			})},
			&musterv1.ExtractionAggregate{
				Status: running, ActiveWorkers: 1, TotalWorkers: 1,
				ParishesProcessed: 1, TotalParishes: 4, SuccessRate: 100, ProgressPercentage: 25,
			},
		},
	})
}

func TestAggregateCurrentDiocese(t *testing.T) {
	t.Parallel()
	d := func(id string, state musterv1.ExtractionState, diocese *string) op {
		return setStatus(id, ext(state, diocese, 0, 0, 0))
	}
	tests := []struct {
		name string
		ops  []op
		want *string
	}{
		{"no workers", nil, nil},
		{"one active worker", []op{d("w1", running, ptr("Boston"))}, ptr("Boston")},
		{
			"worker-id order, not update order",
			[]op{d("w2", running, ptr("Alpha")), d("w1", paused, ptr("Zeta"))},
			ptr("Zeta, Alpha"),
		},
		{
			"worker ids compare as strings",
			[]op{d("w9", running, ptr("Nine")), d("w10", running, ptr("Ten"))},
			ptr("Ten, Nine"),
		},
		{
			"duplicates appear once, at their first worker",
			[]op{d("w3", running, ptr("A")), d("w2", running, ptr("B")), d("w1", running, ptr("A"))},
			ptr("A, B"),
		},
		{
			"empty and missing dioceses are skipped",
			[]op{d("w1", running, ptr("")), d("w2", running, nil), d("w3", running, ptr("C"))},
			ptr("C"),
		},
		{
			"only empty dioceses give none",
			[]op{d("w1", running, ptr("")), d("w2", paused, nil)},
			nil,
		},
		{
			"inactive workers' dioceses are excluded",
			[]op{d("w1", idle, ptr("A")), d("w2", completed, ptr("B")), d("w3", paused, ptr("C")), d("w4", failed, ptr("D"))},
			ptr("C"),
		},
		{
			"only inactive workers give none",
			[]op{d("w1", idle, ptr("A")), d("w2", completed, ptr("B"))},
			nil,
		},
		{
			"stale workers' dioceses are excluded",
			[]op{d("w1", running, ptr("A")), advance(staleAfter + time.Second), d("w2", running, ptr("B"))},
			ptr("B"),
		},
		{
			"revived worker's diocese is back in order",
			[]op{d("w1", running, ptr("A")), advance(staleAfter + time.Second), d("w2", running, ptr("B")), heartbeat("w1")},
			ptr("A, B"),
		},
		{
			"forgotten worker's diocese is gone",
			[]op{d("w1", running, ptr("A")), d("w2", running, ptr("B")), forget("w1")},
			ptr("B"),
		},
		{
			"changed diocese",
			[]op{d("w1", running, ptr("A")), d("w2", running, ptr("B")), d("w1", running, ptr("C"))},
			ptr("C, B"),
		},
		{
			"diocese cleared",
			[]op{d("w1", running, ptr("A")), d("w2", running, ptr("B")), d("w2", running, nil)},
			ptr("A"),
		},
		{
			"legacy worker in id order",
			[]op{d("", running, ptr("L")), d("alpha", running, ptr("A")), d("zulu", running, ptr("Z"))},
			ptr("A, L, Z"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			run(m, c, tt.ops)
			got := m.Aggregate().GetExtractionStatus().CurrentDiocese
			if d := diff(tt.want, got); d != "" {
				t.Errorf("current_diocese mismatch (-want +got):\n%s", d)
			}
			checkAgainstReference(t, m)
		})
	}
}

func TestAggregateStartedAt(t *testing.T) {
	t.Parallel()
	s := func(id string, state musterv1.ExtractionState, started *timestamppb.Timestamp) op {
		return setStatus(id, &musterv1.ExtractionStatus{Status: state, StartedAt: started})
	}
	tests := []struct {
		name string
		ops  []op
		want *timestamppb.Timestamp
	}{
		{"no workers", nil, nil},
		{"active worker without a start", []op{s("w1", running, nil)}, nil},
		{
			"earliest among active workers",
			[]op{s("w1", running, at(-time.Hour)), s("w2", paused, at(-3*time.Hour)), s("w3", running, at(-2*time.Hour))},
			at(-3 * time.Hour),
		},
		{
			"inactive workers do not count",
			[]op{s("w1", running, at(-time.Hour)), s("w2", idle, at(-5*time.Hour)), s("w3", completed, at(-6*time.Hour))},
			at(-time.Hour),
		},
		{
			"active workers without a start are skipped",
			[]op{s("w1", running, nil), s("w2", running, at(-2*time.Hour)), s("w3", running, nil)},
			at(-2 * time.Hour),
		},
		{
			"stale workers do not count",
			[]op{s("w1", running, at(-5*time.Hour)), advance(staleAfter + time.Second), s("w2", running, at(-time.Hour))},
			at(-time.Hour),
		},
		{
			"nanoseconds matter",
			[]op{s("w1", running, at(time.Nanosecond)), s("w2", running, at(2*time.Nanosecond))},
			at(time.Nanosecond),
		},
		{
			"earliest worker stops",
			[]op{s("w1", running, at(-5*time.Hour)), s("w2", running, at(-time.Hour)), s("w1", idle, at(-5*time.Hour))},
			at(-time.Hour),
		},
		{
			"start moves later",
			[]op{s("w1", running, at(-5*time.Hour)), s("w2", running, at(-time.Hour)), s("w1", running, at(-30*time.Minute))},
			at(-time.Hour),
		},
		{
			"only inactive workers give none",
			[]op{s("w1", idle, at(-time.Hour))},
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			run(m, c, tt.ops)
			if d := diff(tt.want, m.Aggregate().GetExtractionStatus().GetStartedAt()); d != "" {
				t.Errorf("started_at mismatch (-want +got):\n%s", d)
			}
			checkAgainstReference(t, m)
		})
	}
}

// The aggregate follows every kind of change, step by step (no stale cache).
func TestAggregateFollowsChanges(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	steps := []struct {
		name string
		do   op
		want *musterv1.ExtractionAggregate
	}{
		{
			"w1 starts",
			setStatus("w1", &musterv1.ExtractionStatus{Status: running, CurrentDiocese: ptr("A"), ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, StartedAt: at(-time.Hour)}),
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1, ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, ProgressPercentage: 10, CurrentDiocese: ptr("A"), StartedAt: at(-time.Hour)},
		},
		{
			"w1 moves to another diocese",
			setStatus("w1", &musterv1.ExtractionStatus{Status: running, CurrentDiocese: ptr("B"), ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, StartedAt: at(-time.Hour)}),
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1, ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, ProgressPercentage: 10, CurrentDiocese: ptr("B"), StartedAt: at(-time.Hour)},
		},
		{
			"w1 restarts earlier",
			setStatus("w1", &musterv1.ExtractionStatus{Status: running, CurrentDiocese: ptr("B"), ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, StartedAt: at(-2 * time.Hour)}),
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1, ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, ProgressPercentage: 10, CurrentDiocese: ptr("B"), StartedAt: at(-2 * time.Hour)},
		},
		{
			"w2 joins paused",
			setStatus("w2", &musterv1.ExtractionStatus{Status: paused, CurrentDiocese: ptr("A"), ParishesProcessed: 30, TotalParishes: 100, SuccessRate: 90, StartedAt: at(-30 * time.Minute)}),
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 2, TotalWorkers: 2, ParishesProcessed: 40, TotalParishes: 200, SuccessRate: 80, ProgressPercentage: 20, CurrentDiocese: ptr("B, A"), StartedAt: at(-2 * time.Hour)},
		},
		{
			"w1 goes idle",
			setStatus("w1", &musterv1.ExtractionStatus{Status: idle, CurrentDiocese: ptr("B"), ParishesProcessed: 10, TotalParishes: 100, SuccessRate: 50, StartedAt: at(-2 * time.Hour)}),
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 2, ParishesProcessed: 30, TotalParishes: 100, SuccessRate: 90, ProgressPercentage: 30, CurrentDiocese: ptr("A"), StartedAt: at(-30 * time.Minute)},
		},
		{
			"both go stale",
			advance(staleAfter + time.Second),
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 2, StaleWorkers: 2},
		},
		{
			"w2 heartbeat revives it",
			heartbeat("w2"),
			&musterv1.ExtractionAggregate{Status: paused, ActiveWorkers: 1, TotalWorkers: 2, StaleWorkers: 1, ParishesProcessed: 30, TotalParishes: 100, SuccessRate: 90, ProgressPercentage: 30, CurrentDiocese: ptr("A"), StartedAt: at(-30 * time.Minute)},
		},
		{
			"w2 forgotten",
			forget("w2"),
			&musterv1.ExtractionAggregate{Status: idle, TotalWorkers: 1, StaleWorkers: 1},
		},
		{
			"w1 runs again without diocese",
			setStatus("w1", ext(running, nil, 1, 2, 100)),
			&musterv1.ExtractionAggregate{Status: running, ActiveWorkers: 1, TotalWorkers: 1, ParishesProcessed: 1, TotalParishes: 2, SuccessRate: 100, ProgressPercentage: 50},
		},
		{
			"w1 forgotten by time",
			advance(forgetAfter + time.Second),
			&musterv1.ExtractionAggregate{Status: idle},
		},
	}
	for _, s := range steps {
		s.do(m, c)
		if d := diff(s.want, m.Aggregate().GetExtractionStatus()); d != "" {
			t.Errorf("%s: extraction aggregate mismatch (-want +got):\n%s", s.name, d)
		}
		// Asking twice gives the same answer.
		if d := diff(s.want, m.Aggregate().GetExtractionStatus()); d != "" {
			t.Errorf("%s: second Aggregate() mismatch (-want +got):\n%s", s.name, d)
		}
	}
}

// ---------------------------------------------------------------------------
// Circuit breaker aggregate.
// ---------------------------------------------------------------------------

func TestAggregateBreakers(t *testing.T) {
	t.Parallel()
	type bmap = map[string]*musterv1.CircuitBreaker
	type amap = map[string]*musterv1.BreakerAggregate
	tests := []struct {
		name string
		ops  []op
		want amap
	}{
		{"no breakers", []op{heartbeat("w1")}, amap{}},
		{
			"worst state wins and counts are summed",
			[]op{
				setBreakers("w1", bmap{"db": {State: bOpen, TotalRequests: 10, TotalSuccesses: 2, TotalFailures: 8, TotalBlocked: 5}}),
				setBreakers("w2", bmap{"db": {State: bClosed, TotalRequests: 90, TotalSuccesses: 88, TotalFailures: 2}}),
				setBreakers("w3", bmap{"db": {State: bHalfOpen, TotalRequests: 3, TotalSuccesses: 1, TotalFailures: 2, TotalBlocked: 1}}),
			},
			// 91 / 103 = 88.349… -> 88.3
			amap{"db": {
				State: bOpen, TotalRequests: 103, TotalSuccesses: 91, TotalFailures: 12, TotalBlocked: 6,
				SuccessRate: 88.3, WorkersClosed: 1, WorkersHalfOpen: 1, WorkersOpen: 1,
			}},
		},
		{
			"half-open beats closed",
			[]op{
				setBreakers("w1", bmap{"db": {State: bClosed, TotalRequests: 1, TotalSuccesses: 1}}),
				setBreakers("w2", bmap{"db": {State: bHalfOpen, TotalRequests: 1}}),
				setBreakers("w3", bmap{"db": {State: bClosed, TotalRequests: 1, TotalSuccesses: 1}}),
			},
			amap{"db": {State: bHalfOpen, TotalRequests: 3, TotalSuccesses: 2, SuccessRate: 66.7, WorkersClosed: 2, WorkersHalfOpen: 1}},
		},
		{
			"open beats half-open",
			[]op{
				setBreakers("w1", bmap{"db": {State: bHalfOpen}}),
				setBreakers("w2", bmap{"db": {State: bOpen}}),
			},
			amap{"db": {State: bOpen, WorkersHalfOpen: 1, WorkersOpen: 1}},
		},
		{
			"unset state counts as closed",
			[]op{setBreakers("w1", bmap{"db": {State: bUnspecified, TotalRequests: 3, TotalSuccesses: 2, TotalFailures: 1}})},
			amap{"db": {State: bClosed, TotalRequests: 3, TotalSuccesses: 2, TotalFailures: 1, SuccessRate: 66.7, WorkersClosed: 1}},
		},
		{
			"rate is recomputed from the sums, not averaged",
			[]op{
				setBreakers("w1", bmap{"db": {State: bClosed, TotalRequests: 1, TotalSuccesses: 1, SuccessRate: 100}}),
				setBreakers("w2", bmap{"db": {State: bClosed, TotalRequests: 99, TotalSuccesses: 0, TotalFailures: 99, SuccessRate: 0}}),
			},
			amap{"db": {State: bClosed, TotalRequests: 100, TotalSuccesses: 1, TotalFailures: 99, SuccessRate: 1, WorkersClosed: 2}},
		},
		{
			"worker-sent rate is not trusted",
			[]op{setBreakers("w1", bmap{"db": {State: bClosed, TotalRequests: 8, TotalSuccesses: 1, SuccessRate: 95.6}})},
			amap{"db": {State: bClosed, TotalRequests: 8, TotalSuccesses: 1, SuccessRate: 12.5, WorkersClosed: 1}},
		},
		{
			"no requests gives zero rate",
			[]op{setBreakers("w1", bmap{"db": {State: bClosed}}), setBreakers("w2", bmap{"db": {State: bClosed, TotalBlocked: 4}})},
			amap{"db": {State: bClosed, TotalBlocked: 4, WorkersClosed: 2}},
		},
		{
			"names are aggregated separately",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 4, TotalSuccesses: 1}, "b": {State: bClosed, TotalRequests: 2, TotalSuccesses: 2}}),
				setBreakers("w2", bmap{"b": {State: bHalfOpen, TotalRequests: 2, TotalSuccesses: 1}}),
			},
			amap{
				"a": {State: bOpen, TotalRequests: 4, TotalSuccesses: 1, SuccessRate: 25, WorkersOpen: 1},
				"b": {State: bHalfOpen, TotalRequests: 4, TotalSuccesses: 3, SuccessRate: 75, WorkersClosed: 1, WorkersHalfOpen: 1},
			},
		},
		{
			"posts merge by name",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 10}}),
				setBreakers("w1", bmap{"b": {State: bClosed, TotalRequests: 5, TotalSuccesses: 5}}),
			},
			amap{
				"a": {State: bOpen, TotalRequests: 10, WorkersOpen: 1},
				"b": {State: bClosed, TotalRequests: 5, TotalSuccesses: 5, SuccessRate: 100, WorkersClosed: 1},
			},
		},
		{
			"a name in a post replaces that breaker",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 10}, "b": {State: bOpen, TotalRequests: 1}}),
				setBreakers("w1", bmap{"a": {State: bClosed, TotalRequests: 20, TotalSuccesses: 19, TotalFailures: 1}}),
			},
			amap{
				"a": {State: bClosed, TotalRequests: 20, TotalSuccesses: 19, TotalFailures: 1, SuccessRate: 95, WorkersClosed: 1},
				"b": {State: bOpen, TotalRequests: 1, WorkersOpen: 1},
			},
		},
		{
			"an empty post keeps everything",
			[]op{setBreakers("w1", bmap{"a": {State: bOpen}}), setBreakers("w1", bmap{})},
			amap{"a": {State: bOpen, WorkersOpen: 1}},
		},
		{
			"only fresh workers count",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 10}, "only-stale": {State: bOpen, TotalRequests: 1}}),
				advance(staleAfter + time.Second),
				setBreakers("w2", bmap{"a": {State: bClosed, TotalRequests: 5, TotalSuccesses: 4, TotalFailures: 1}}),
			},
			amap{"a": {State: bClosed, TotalRequests: 5, TotalSuccesses: 4, TotalFailures: 1, SuccessRate: 80, WorkersClosed: 1}},
		},
		{
			"status does not matter, freshness does",
			[]op{
				setStatus("w1", ext(idle, nil, 0, 0, 0)),
				setBreakers("w1", bmap{"a": {State: bHalfOpen, TotalRequests: 2}}),
			},
			amap{"a": {State: bHalfOpen, TotalRequests: 2, WorkersHalfOpen: 1}},
		},
		{
			"a stale worker's breaker update revives all its breakers",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 10}, "b": {State: bHalfOpen, TotalRequests: 1}}),
				advance(staleAfter + time.Second),
				setBreakers("w1", bmap{"a": {State: bClosed, TotalRequests: 11, TotalSuccesses: 1}}),
			},
			amap{
				"a": {State: bClosed, TotalRequests: 11, TotalSuccesses: 1, SuccessRate: 9.1, WorkersClosed: 1},
				"b": {State: bHalfOpen, TotalRequests: 1, WorkersHalfOpen: 1},
			},
		},
		{
			"forgotten workers do not count",
			[]op{
				setBreakers("w1", bmap{"a": {State: bOpen, TotalRequests: 10}}),
				setBreakers("w2", bmap{"a": {State: bClosed, TotalRequests: 1, TotalSuccesses: 1}}),
				forget("w1"),
			},
			amap{"a": {State: bClosed, TotalRequests: 1, TotalSuccesses: 1, SuccessRate: 100, WorkersClosed: 1}},
		},
		{
			"legacy breakers add up with workers'",
			[]op{
				setBreakers("", bmap{"a": {State: bClosed, TotalRequests: 100, TotalSuccesses: 96}}),
				setBreakers("w1", bmap{"a": {State: bClosed, TotalRequests: 50, TotalSuccesses: 47}}),
			},
			amap{"a": {State: bClosed, TotalRequests: 150, TotalSuccesses: 143, SuccessRate: 95.3, WorkersClosed: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			run(m, c, tt.ops)
			if d := diff(tt.want, m.Aggregate().GetCircuitBreakers()); d != "" {
				t.Errorf("breaker aggregate mismatch (-want +got):\n%s", d)
			}
			if d := diff(tt.want, refFromManager(t, m).GetCircuitBreakers()); d != "" {
				t.Errorf("test reference disagrees with the expected value (-want +reference):\n%s", d)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Performance aggregate.
// ---------------------------------------------------------------------------

func TestAggregatePerformance(t *testing.T) {
	t.Parallel()
	p1 := &musterv1.PerformanceMetrics{ParishesPerMinute: 10.5, QueueSize: 3, PoolUtilization: 0.5, TotalRequests: 100, SuccessfulRequests: 90}
	p2 := &musterv1.PerformanceMetrics{ParishesPerMinute: 4.5, QueueSize: 7, PoolUtilization: 0.25, TotalRequests: 50, SuccessfulRequests: 25}
	clone := func(p *musterv1.PerformanceMetrics) *musterv1.PerformanceMetrics {
		return proto.Clone(p).(*musterv1.PerformanceMetrics)
	}
	both := &musterv1.PerformanceAggregate{
		ParishesPerMinute: 15, QueueSize: 10, PoolUtilization: 0.375, TotalRequests: 150, SuccessfulRequests: 115, ReportingWorkers: 2,
	}
	only2 := &musterv1.PerformanceAggregate{
		ParishesPerMinute: 4.5, QueueSize: 7, PoolUtilization: 0.25, TotalRequests: 50, SuccessfulRequests: 25, ReportingWorkers: 1,
	}
	tests := []struct {
		name string
		ops  []op
		want *musterv1.PerformanceAggregate
	}{
		{"nobody reports", []op{heartbeat("w1"), setStatus("w2", ext(running, nil, 1, 1, 1))}, &musterv1.PerformanceAggregate{}},
		{"sums and mean", []op{setPerf("w1", clone(p1)), setPerf("w2", clone(p2))}, both},
		{
			"workers without metrics do not dilute the mean",
			[]op{setPerf("w1", clone(p1)), setPerf("w2", clone(p2)), setStatus("w3", ext(running, nil, 1, 1, 1)), heartbeat("w4")},
			both,
		},
		{
			"status does not matter",
			[]op{setStatus("w1", ext(idle, nil, 0, 0, 0)), setPerf("w1", clone(p1)), setStatus("w2", ext(completed, nil, 0, 0, 0)), setPerf("w2", clone(p2))},
			both,
		},
		{"stale workers do not count", []op{setPerf("w1", clone(p1)), advance(staleAfter + time.Second), setPerf("w2", clone(p2))}, only2},
		{"forgotten workers do not count", []op{setPerf("w1", clone(p1)), setPerf("w2", clone(p2)), forget("w1")}, only2},
		{"metrics are replaced", []op{setPerf("w2", clone(p1)), setPerf("w2", clone(p2))}, only2},
		{
			"revived worker counts again",
			[]op{setPerf("w1", clone(p1)), setPerf("w2", clone(p2)), advance(staleAfter + time.Second), heartbeat("w1"), heartbeat("w2")},
			both,
		},
		{
			"mean of three",
			[]op{
				setPerf("w1", &musterv1.PerformanceMetrics{PoolUtilization: 0.1}),
				setPerf("w2", &musterv1.PerformanceMetrics{PoolUtilization: 0.2}),
				setPerf("", &musterv1.PerformanceMetrics{PoolUtilization: 0.9}),
			},
			&musterv1.PerformanceAggregate{PoolUtilization: 0.4, ReportingWorkers: 3},
		},
		{"all stale", []op{setPerf("w1", clone(p1)), advance(staleAfter + time.Second)}, &musterv1.PerformanceAggregate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			run(m, c, tt.ops)
			if d := diff(tt.want, m.Aggregate().GetPerformanceMetrics()); d != "" {
				t.Errorf("performance aggregate mismatch (-want +got):\n%s", d)
			}
			if d := diff(tt.want, refFromManager(t, m).GetPerformanceMetrics()); d != "" {
				t.Errorf("test reference disagrees with the expected value (-want +reference):\n%s", d)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Invariant: a long random sequence of operations; after each step the
// manager's aggregate equals the reference recomputed from scratch.
// ---------------------------------------------------------------------------

// modelWorker is the test's own record of one worker.
type modelWorker struct {
	lastSeen   time.Time
	status     *musterv1.ExtractionStatus
	breakers   map[string]*musterv1.CircuitBreaker
	perf       *musterv1.PerformanceMetrics
	workerType string
}

// fleet drives a manager with random operations and keeps an independent
// model of what the manager should know.
type fleet struct {
	t       *testing.T
	rng     *rand.Rand
	m       *manager.Manager
	c       *fakeclock.Clock
	opts    manager.Options
	workers map[string]*modelWorker
	store   store
	history []string // recent operations, for failure messages
	checks  int
}

const fleetSize = 50

func newFleet(t *testing.T, seed uint64, opts manager.Options) *fleet {
	m, c := newManager(opts)
	return &fleet{
		t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), m: m, c: c, opts: m.Options(),
		workers: map[string]*modelWorker{}, store: store{},
	}
}

func (f *fleet) logf(format string, args ...any) {
	f.history = append(f.history, fmt.Sprintf("%s: ", f.c.Now().Sub(t0))+fmt.Sprintf(format, args...))
	if len(f.history) > 12 {
		f.history = f.history[1:]
	}
}

func (f *fleet) fatalf(format string, args ...any) {
	f.t.Helper()
	f.t.Fatalf("%s\nrecent operations:\n  %s", fmt.Sprintf(format, args...), strings.Join(f.history, "\n  "))
}

// pickID returns a worker id; half the traffic goes to a small hot set so
// the fleet is a mix of fresh, stale and forgotten workers.
func (f *fleet) pickID() string {
	switch r := f.rng.IntN(100); {
	case r < 4:
		return "" // legacy
	case r < 50:
		return fmt.Sprintf("w%02d", f.rng.IntN(8))
	default:
		return fmt.Sprintf("w%02d", f.rng.IntN(fleetSize))
	}
}

func (f *fleet) resolve(id string) string {
	if id == "" {
		return f.opts.LegacyWorkerID
	}
	return id
}

// expire drops the workers the manager must have forgotten by now.
func (f *fleet) expire() {
	now := f.c.Now()
	for id, w := range f.workers {
		if now.Sub(w.lastSeen) > f.opts.ForgetAfter {
			delete(f.workers, id)
		}
	}
}

// touch records a sign of life of id in the model.
func (f *fleet) touch(id string) *modelWorker {
	f.expire()
	w := f.workers[id]
	if w == nil {
		w = &modelWorker{breakers: map[string]*musterv1.CircuitBreaker{}}
		f.workers[id] = w
	}
	w.lastSeen = f.c.Now()
	return w
}

func (f *fleet) fresh(w *modelWorker) bool { return f.c.Now().Sub(w.lastSeen) <= f.opts.StaleAfter }

var (
	randStates   = []musterv1.ExtractionState{unspecified, running, running, running, paused, paused, idle, completed, failed, staleState}
	randDioceses = []*string{nil, ptr(""), ptr("Alpha"), ptr("Beta"), ptr("Gamma"), ptr("Delta")}
	randBreakers = []string{"db", "http", "geo", "llm"}
	randBStates  = []musterv1.BreakerState{bUnspecified, bClosed, bClosed, bHalfOpen, bOpen}
	randTypes    = []string{"", "", "discovery", "extraction", "schedule"}
)

func (f *fleet) randStatus() *musterv1.ExtractionStatus {
	r := f.rng
	processed := int64(r.IntN(1000))
	s := &musterv1.ExtractionStatus{
		Status:            randStates[r.IntN(len(randStates))],
		ParishesProcessed: processed,
		TotalParishes:     processed + int64(r.IntN(1000)),
		SuccessRate:       r.Float64() * 100,
	}
	if d := randDioceses[r.IntN(len(randDioceses))]; d != nil {
		s.CurrentDiocese = ptr(*d)
	}
	if r.IntN(3) > 0 {
		s.StartedAt = at(-time.Duration(r.IntN(600)) * time.Minute)
	}
	if r.IntN(10) == 0 {
		s.ParishesProcessed = 0
	}
	return s
}

func (f *fleet) randBreakers() map[string]*musterv1.CircuitBreaker {
	r := f.rng
	out := map[string]*musterv1.CircuitBreaker{}
	for range 1 + r.IntN(3) {
		req := int64(r.IntN(1000))
		succ := int64(0)
		if req > 0 {
			succ = r.Int64N(req + 1)
		}
		b := &musterv1.CircuitBreaker{
			State:          randBStates[r.IntN(len(randBStates))],
			TotalRequests:  req,
			TotalSuccesses: succ,
			TotalFailures:  req - succ,
			TotalBlocked:   int64(r.IntN(50)),
		}
		if r.IntN(2) == 0 && req > 0 {
			b.SuccessRate = round1(float64(succ) / float64(req) * 100)
		}
		out[randBreakers[r.IntN(len(randBreakers))]] = b
	}
	return out
}

func (f *fleet) randPerf() *musterv1.PerformanceMetrics {
	r := f.rng
	req := int64(r.IntN(5000))
	return &musterv1.PerformanceMetrics{
		ParishesPerMinute:  r.Float64() * 50,
		QueueSize:          int64(r.IntN(200)),
		PoolUtilization:    r.Float64(),
		TotalRequests:      req,
		SuccessfulRequests: req - int64(r.IntN(int(req)+1)),
	}
}

// normalise applies the documented defaults of UpdateExtractionStatus.
func normalise(s *musterv1.ExtractionStatus) *musterv1.ExtractionStatus {
	s = proto.Clone(s).(*musterv1.ExtractionStatus)
	if s.Status == unspecified {
		s.Status = idle
	}
	if s.CurrentDiocese != nil && *s.CurrentDiocese == "" {
		s.CurrentDiocese = nil
	}
	return s
}

// step performs one random operation on the manager and the model.
func (f *fleet) step() {
	r := f.rng
	switch n := r.IntN(100); {
	case n < 26:
		id, s := f.pickID(), f.randStatus()
		f.logf("UpdateExtractionStatus(%q, %v)", id, s)
		w := f.touch(f.resolve(id))
		w.status = normalise(s)
		f.m.UpdateExtractionStatus(id, s)
	case n < 40:
		id, b := f.pickID(), f.randBreakers()
		f.logf("UpdateCircuitBreakers(%q, %v)", id, b)
		w := f.touch(f.resolve(id))
		for name, cb := range b {
			w.breakers[name] = proto.Clone(cb).(*musterv1.CircuitBreaker)
		}
		f.m.UpdateCircuitBreakers(id, b)
	case n < 48:
		id, p := f.pickID(), f.randPerf()
		f.logf("UpdatePerformance(%q, %v)", id, p)
		w := f.touch(f.resolve(id))
		w.perf = proto.Clone(p).(*musterv1.PerformanceMetrics)
		f.m.UpdatePerformance(id, p)
	case n < 55:
		id, typ := f.pickID(), randTypes[r.IntN(len(randTypes))]
		f.logf("Heartbeat(%q, %q)", id, typ)
		w := f.touch(f.resolve(id))
		if typ != "" {
			w.workerType = typ
		}
		f.m.Heartbeat(id, typ)
	case n < 64:
		id := f.pickID() // "" here means fleet-wide
		if r.IntN(3) == 0 {
			id = ""
		}
		var w *modelWorker
		if id != "" {
			w = f.touch(id)
		}
		switch r.IntN(3) {
		case 0:
			f.logf("ReportError(%q)", id)
			f.m.ReportError(&musterv1.ErrorEvent{WorkerId: id, Type: "T", Message: "m"})
		case 1:
			typ := randTypes[r.IntN(len(randTypes))]
			f.logf("ReportLog(%q, type %q)", id, typ)
			if w != nil && typ != "" {
				w.workerType = typ
			}
			f.m.ReportLog(&musterv1.LogEntry{WorkerId: id, Message: "m", WorkerType: typ})
		default:
			f.logf("ReportCompletion(%q)", id)
			f.m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: id, DioceseName: "d"})
		}
	case n < 66:
		id := f.pickID()
		f.logf("Forget(%q)", id)
		f.expire()
		_, known := f.workers[f.resolve(id)]
		err := f.m.Forget(id)
		switch {
		case known && err != nil:
			f.fatalf("Forget(%q) of a known worker: %v", id, err)
		case !known && !errors.Is(err, manager.ErrNotFound):
			f.fatalf("Forget(%q) of an unknown worker: error %v, want ErrNotFound", id, err)
		}
		delete(f.workers, f.resolve(id))
	case n < 82:
		d := time.Duration(1+r.IntN(30)) * time.Second
		f.logf("advance %v", d)
		f.c.Advance(d)
	case n < 87:
		d := []time.Duration{
			f.opts.StaleAfter, f.opts.StaleAfter + time.Nanosecond, f.opts.StaleAfter - time.Nanosecond,
			2 * f.opts.StaleAfter, time.Duration(r.Int64N(int64(f.opts.StaleAfter))),
		}[r.IntN(5)]
		f.logf("advance %v", d)
		f.c.Advance(d)
	case n < 88:
		d := time.Duration(r.Int64N(int64(f.opts.ForgetAfter)))
		f.logf("advance %v", d)
		f.c.Advance(d)
	case n < 91:
		f.logf("Sweep()")
		f.m.Sweep()
	case n < 92:
		f.logf("SetAggregateMode")
		f.m.SetAggregateMode(r.IntN(2) == 0)
	case n < 95:
		f.logf("TakeChanges")
		f.store.take(f.m)
	default:
		f.logf("Aggregate()")
		f.m.Aggregate()
	}
}

// check compares the manager with the model and the reference aggregate.
func (f *fleet) check() {
	f.t.Helper()
	f.expire()
	got := f.m.Aggregate()
	sums := f.m.Workers()
	wantIDs := make([]string, 0, len(f.workers))
	for id := range f.workers {
		wantIDs = append(wantIDs, id)
	}
	slices.Sort(wantIDs)
	if gotIDs := ids(sums); !slices.Equal(gotIDs, wantIDs) {
		f.fatalf("Workers() = %v\nwant        %v", gotIDs, wantIDs)
	}
	var fromManager, fromModel []refWorker
	for _, s := range sums {
		id := s.GetWorkerId()
		mw := f.workers[id]
		wantHealth := healthStale
		if f.fresh(mw) {
			wantHealth = healthFresh
		}
		if s.GetHealth() != wantHealth {
			f.fatalf("worker %q health = %v, want %v (silent %v)", id, s.GetHealth(), wantHealth, f.c.Now().Sub(mw.lastSeen))
		}
		if !s.GetLastUpdated().AsTime().Equal(mw.lastSeen) {
			f.fatalf("worker %q last_updated = %v, want %v", id, s.GetLastUpdated().AsTime(), mw.lastSeen)
		}
		if s.GetWorkerType() != mw.workerType {
			f.fatalf("worker %q worker_type = %q, want %q", id, s.GetWorkerType(), mw.workerType)
		}
		full, err := f.m.Worker(id)
		if err != nil {
			f.fatalf("Worker(%q): %v", id, err)
		}
		if !proto.Equal(mw.status, full.GetExtractionStatus()) {
			f.fatalf("worker %q extraction status mismatch (-model +got):\n%s", id, diff(mw.status, full.GetExtractionStatus()))
		}
		if !proto.Equal(mw.perf, full.GetPerformanceMetrics()) {
			f.fatalf("worker %q performance mismatch (-model +got):\n%s", id, diff(mw.perf, full.GetPerformanceMetrics()))
		}
		if gotNames, wantNames := sortedKeys(full.GetCircuitBreakers()), sortedKeys(mw.breakers); !slices.Equal(gotNames, wantNames) {
			f.fatalf("worker %q breakers = %v, want %v", id, gotNames, wantNames)
		}
		fromManager = append(fromManager, refWorker{
			id: id, fresh: full.GetHealth() == healthFresh, status: full.GetExtractionStatus(),
			breakers: full.GetCircuitBreakers(), perf: full.GetPerformanceMetrics(),
		})
		fromModel = append(fromModel, refWorker{
			id: id, fresh: wantHealth == healthFresh, status: mw.status, breakers: mw.breakers, perf: mw.perf,
		})
	}
	f.checks++
	for _, ref := range []struct {
		name string
		agg  *musterv1.Aggregate
	}{{"the model", refAggregate(fromModel)}, {"Worker()", refAggregate(fromManager)}} {
		// sameAggregate is the fast path; every so often cmp double-checks it.
		if !sameAggregate(ref.agg, got) || f.checks%100 == 0 {
			if d := diff(ref.agg, got); d != "" {
				f.fatalf("Aggregate() differs from the reference over %s (-reference +got):\n%s", ref.name, d)
			}
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }

// sameAggregate reports whether two aggregates are equal, with a 1e-6
// tolerance on floats. It is a fast equivalent of diff(a, b) == "".
func sameAggregate(a, b *musterv1.Aggregate) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	ea, eb := a.GetExtractionStatus(), b.GetExtractionStatus()
	if (ea == nil) != (eb == nil) ||
		ea.GetStatus() != eb.GetStatus() ||
		ea.GetActiveWorkers() != eb.GetActiveWorkers() ||
		ea.GetTotalWorkers() != eb.GetTotalWorkers() ||
		ea.GetStaleWorkers() != eb.GetStaleWorkers() ||
		ea.GetParishesProcessed() != eb.GetParishesProcessed() ||
		ea.GetTotalParishes() != eb.GetTotalParishes() ||
		!near(ea.GetSuccessRate(), eb.GetSuccessRate()) ||
		!near(ea.GetProgressPercentage(), eb.GetProgressPercentage()) ||
		(ea.CurrentDiocese == nil) != (eb.CurrentDiocese == nil) ||
		ea.GetCurrentDiocese() != eb.GetCurrentDiocese() ||
		!proto.Equal(ea.GetStartedAt(), eb.GetStartedAt()) {
		return false
	}
	ba, bb := a.GetCircuitBreakers(), b.GetCircuitBreakers()
	if len(ba) != len(bb) {
		return false
	}
	for name, x := range ba {
		y, ok := bb[name]
		if !ok || (x == nil) != (y == nil) ||
			x.GetState() != y.GetState() ||
			x.GetTotalRequests() != y.GetTotalRequests() ||
			x.GetTotalSuccesses() != y.GetTotalSuccesses() ||
			x.GetTotalFailures() != y.GetTotalFailures() ||
			x.GetTotalBlocked() != y.GetTotalBlocked() ||
			!near(x.GetSuccessRate(), y.GetSuccessRate()) ||
			x.GetWorkersClosed() != y.GetWorkersClosed() ||
			x.GetWorkersHalfOpen() != y.GetWorkersHalfOpen() ||
			x.GetWorkersOpen() != y.GetWorkersOpen() {
			return false
		}
	}
	pa, pb := a.GetPerformanceMetrics(), b.GetPerformanceMetrics()
	return (pa == nil) == (pb == nil) &&
		near(pa.GetParishesPerMinute(), pb.GetParishesPerMinute()) &&
		pa.GetQueueSize() == pb.GetQueueSize() &&
		near(pa.GetPoolUtilization(), pb.GetPoolUtilization()) &&
		pa.GetTotalRequests() == pb.GetTotalRequests() &&
		pa.GetSuccessfulRequests() == pb.GetSuccessfulRequests() &&
		pa.GetReportingWorkers() == pb.GetReportingWorkers()
}

// sameMessages reports whether two lists of messages are proto.Equal
// element by element.
func sameMessages[M proto.Message](a, b []M) bool {
	return slices.EqualFunc(a, b, func(x, y M) bool { return proto.Equal(x, y) })
}

// checkRestore restores the store built from TakeChanges into a new manager
// and compares it with the live one.
func (f *fleet) checkRestore() {
	f.t.Helper()
	f.store.take(f.m)
	opts := f.opts
	m2 := manager.New(opts) // same clock
	m2.Restore(f.store.list())
	if live, restored := f.m.Workers(), m2.Workers(); !sameMessages(live, restored) {
		f.fatalf("restored Workers() mismatch (-live +restored):\n%s", diff(live, restored))
	}
	for _, s := range f.m.Workers() {
		live, _ := f.m.Worker(s.GetWorkerId())
		restored, err := m2.Worker(s.GetWorkerId())
		if err != nil {
			f.fatalf("restored Worker(%q): %v", s.GetWorkerId(), err)
		}
		if !proto.Equal(live, restored) {
			f.fatalf("restored Worker(%q) mismatch (-live +restored):\n%s", s.GetWorkerId(), diff(live, restored))
		}
	}
	if live, restored := f.m.Aggregate(), m2.Aggregate(); !sameAggregate(live, restored) {
		f.fatalf("restored Aggregate() mismatch (-live +restored):\n%s", diff(live, restored))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestAggregateInvariantRandom(t *testing.T) {
	t.Parallel()
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	for _, seed := range []uint64{1, 2, 3, 20251203} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, seed, manager.Options{
				StaleAfter: staleAfter, ForgetAfter: 2 * time.Hour,
				ErrorsPerWorker: 3, LogsPerWorker: 3, CompletionsPerWorker: 3, FleetEvents: 10,
			})
			var sawActive, sawStale, sawForget bool
			for i := range steps {
				before := len(f.workers)
				f.step()
				f.check()
				if i%250 == 249 {
					f.checkRestore()
				}
				a := f.m.Aggregate().GetExtractionStatus()
				sawActive = sawActive || a.GetActiveWorkers() > 2
				sawStale = sawStale || a.GetStaleWorkers() > 2
				sawForget = sawForget || len(f.workers) < before
			}
			// The sequence must have exercised every liveness state.
			if !sawActive || !sawStale || !sawForget {
				t.Errorf("random sequence too narrow: active %v, stale %v, forgotten %v", sawActive, sawStale, sawForget)
			}
		})
	}
}
