package manager

import (
	"math"
	"sort"
	"strings"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// aggregator holds the running sums behind the fleet aggregate (CONTRACT §4).
// Workers add and remove their contributions as they change, so no update
// ever walks the fleet.
type aggregator struct {
	total, stale             int
	active, running, paused  int
	processed, totalParishes int64
	weightedRate             float64 // Σ success_rate × processed over active workers

	// activeWorkers backs the two fields that need more than sums
	// (current_diocese, started_at); they are rebuilt lazily, and only when
	// an active worker's diocese or start time actually changed.
	activeWorkers map[string]*worker
	derivedDirty  bool
	diocese       *string
	startedAt     *timestamppb.Timestamp

	breakers map[string]*breakerSum
	perf     perfSum

	cached *musterv1.Aggregate // nil when something changed since the last build
}

type breakerSum struct {
	requests, successes, failures, blocked int64
	closed, halfOpen, open                 int32
}

func (b *breakerSum) workers() int32 { return b.closed + b.halfOpen + b.open }

type perfSum struct {
	parishesPerMinute  float64
	queueSize          int64
	poolUtilization    float64
	totalRequests      int64
	successfulRequests int64
	reporting          int32
}

func newAggregator() *aggregator {
	return &aggregator{
		activeWorkers: map[string]*worker{},
		breakers:      map[string]*breakerSum{},
	}
}

func isActive(w *worker) bool {
	if w.stale || w.status == nil {
		return false
	}
	s := w.status.GetStatus()
	return s == musterv1.ExtractionState_EXTRACTION_STATE_RUNNING ||
		s == musterv1.ExtractionState_EXTRACTION_STATE_PAUSED
}

// extraction adds (sign 1) or removes (sign -1) a worker's extraction
// status from the sums. Membership of activeWorkers is kept by the caller.
func (a *aggregator) extraction(w *worker, sign int) {
	a.cached = nil
	if !isActive(w) {
		return
	}
	st := w.status
	a.active += sign
	switch st.GetStatus() {
	case musterv1.ExtractionState_EXTRACTION_STATE_RUNNING:
		a.running += sign
	case musterv1.ExtractionState_EXTRACTION_STATE_PAUSED:
		a.paused += sign
	}
	a.processed += int64(sign) * st.GetParishesProcessed()
	a.totalParishes += int64(sign) * st.GetTotalParishes()
	a.weightedRate += float64(sign) * st.GetSuccessRate() * float64(st.GetParishesProcessed())
	if a.active == 0 {
		// Float sums drift under add/remove; with nobody active they are exactly zero.
		a.processed, a.totalParishes, a.weightedRate = 0, 0, 0
	}
}

// breaker adds or removes one of a fresh worker's breakers.
func (a *aggregator) breaker(name string, b *musterv1.CircuitBreaker, sign int) {
	a.cached = nil
	sum := a.breakers[name]
	if sum == nil {
		sum = &breakerSum{}
		a.breakers[name] = sum
	}
	s := int64(sign)
	sum.requests += s * b.GetTotalRequests()
	sum.successes += s * b.GetTotalSuccesses()
	sum.failures += s * b.GetTotalFailures()
	sum.blocked += s * b.GetTotalBlocked()
	switch b.GetState() {
	case musterv1.BreakerState_BREAKER_STATE_OPEN:
		sum.open += int32(sign)
	case musterv1.BreakerState_BREAKER_STATE_HALF_OPEN:
		sum.halfOpen += int32(sign)
	default:
		sum.closed += int32(sign)
	}
	if sum.workers() == 0 {
		delete(a.breakers, name)
	}
}

// breakers adds or removes all of a worker's breakers if it is fresh.
func (a *aggregator) workerBreakers(w *worker, sign int) {
	if w.stale {
		return
	}
	for name, b := range w.breakers {
		a.breaker(name, b, sign)
	}
}

// performance adds or removes a fresh worker's performance metrics.
func (a *aggregator) performance(w *worker, sign int) {
	a.cached = nil
	if w.stale || w.perf == nil {
		return
	}
	p, s := w.perf, float64(sign)
	a.perf.parishesPerMinute += s * p.GetParishesPerMinute()
	a.perf.queueSize += int64(sign) * p.GetQueueSize()
	a.perf.poolUtilization += s * p.GetPoolUtilization()
	a.perf.totalRequests += int64(sign) * p.GetTotalRequests()
	a.perf.successfulRequests += int64(sign) * p.GetSuccessfulRequests()
	a.perf.reporting += int32(sign)
	if a.perf.reporting == 0 {
		a.perf = perfSum{}
	}
}

// all adds or removes every contribution of a worker, including the counts
// of known and stale workers.
func (a *aggregator) all(w *worker, sign int) {
	a.total += sign
	if w.stale {
		a.stale += sign
	}
	a.extraction(w, sign)
	a.workerBreakers(w, sign)
	a.performance(w, sign)
	a.syncActive(w)
}

// syncActive keeps activeWorkers in step with isActive.
func (a *aggregator) syncActive(w *worker) {
	switch active := isActive(w) && !w.forgotten; {
	case active && !w.listedActive:
		a.activeWorkers[w.id] = w
		w.listedActive = true
		a.derivedDirty = true
	case !active && w.listedActive:
		delete(a.activeWorkers, w.id)
		w.listedActive = false
		a.derivedDirty = true
	}
}

// statusChanged marks the derived fields dirty when an active worker's
// diocese or start time changed.
func (a *aggregator) statusChanged(w *worker, old *musterv1.ExtractionStatus) {
	if !isActive(w) {
		return
	}
	if old.GetCurrentDiocese() != w.status.GetCurrentDiocese() ||
		!sameTime(old.GetStartedAt(), w.status.GetStartedAt()) {
		a.derivedDirty = true
	}
}

func sameTime(a, b *timestamppb.Timestamp) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.GetSeconds() == b.GetSeconds() && a.GetNanos() == b.GetNanos()
}

// rebuildDerived recomputes current_diocese and started_at over the active
// workers: the distinct non-empty dioceses in worker-id order, and the
// earliest start.
func (a *aggregator) rebuildDerived() {
	a.derivedDirty = false
	ids := make([]string, 0, len(a.activeWorkers))
	for id := range a.activeWorkers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	seen := map[string]bool{}
	var dioceses []string
	var earliest *timestamppb.Timestamp
	for _, id := range ids {
		st := a.activeWorkers[id].status
		if d := st.GetCurrentDiocese(); d != "" && !seen[d] {
			seen[d] = true
			dioceses = append(dioceses, d)
		}
		if t := st.GetStartedAt(); t != nil && (earliest == nil || t.AsTime().Before(earliest.AsTime())) {
			earliest = t
		}
	}
	a.diocese = nil
	if len(dioceses) > 0 {
		joined := strings.Join(dioceses, ", ")
		a.diocese = &joined
	}
	a.startedAt = earliest
}

// build returns the aggregate; the result is shared and must not be modified.
func (a *aggregator) build() *musterv1.Aggregate {
	if a.cached != nil && !a.derivedDirty {
		return a.cached
	}
	if a.derivedDirty {
		a.rebuildDerived()
	}
	ext := &musterv1.ExtractionAggregate{
		Status:            musterv1.ExtractionState_EXTRACTION_STATE_IDLE,
		ActiveWorkers:     int32(a.active),
		TotalWorkers:      int32(a.total),
		StaleWorkers:      int32(a.stale),
		ParishesProcessed: a.processed,
		TotalParishes:     a.totalParishes,
		CurrentDiocese:    a.diocese,
		StartedAt:         a.startedAt,
	}
	switch {
	case a.running > 0:
		ext.Status = musterv1.ExtractionState_EXTRACTION_STATE_RUNNING
	case a.paused > 0:
		ext.Status = musterv1.ExtractionState_EXTRACTION_STATE_PAUSED
	}
	if a.processed > 0 {
		ext.SuccessRate = round1(a.weightedRate / float64(a.processed))
	}
	if a.totalParishes > 0 {
		ext.ProgressPercentage = float64(a.processed) / float64(a.totalParishes) * 100
	}
	breakers := make(map[string]*musterv1.BreakerAggregate, len(a.breakers))
	for name, s := range a.breakers {
		b := &musterv1.BreakerAggregate{
			State:           musterv1.BreakerState_BREAKER_STATE_CLOSED,
			TotalRequests:   s.requests,
			TotalSuccesses:  s.successes,
			TotalFailures:   s.failures,
			TotalBlocked:    s.blocked,
			WorkersClosed:   s.closed,
			WorkersHalfOpen: s.halfOpen,
			WorkersOpen:     s.open,
		}
		switch {
		case s.open > 0:
			b.State = musterv1.BreakerState_BREAKER_STATE_OPEN
		case s.halfOpen > 0:
			b.State = musterv1.BreakerState_BREAKER_STATE_HALF_OPEN
		}
		if s.requests > 0 {
			b.SuccessRate = round1(float64(s.successes) / float64(s.requests) * 100)
		}
		breakers[name] = b
	}
	perf := &musterv1.PerformanceAggregate{
		ParishesPerMinute:  a.perf.parishesPerMinute,
		QueueSize:          a.perf.queueSize,
		TotalRequests:      a.perf.totalRequests,
		SuccessfulRequests: a.perf.successfulRequests,
		ReportingWorkers:   a.perf.reporting,
	}
	if a.perf.reporting > 0 {
		perf.PoolUtilization = a.perf.poolUtilization / float64(a.perf.reporting)
	}
	a.cached = &musterv1.Aggregate{ExtractionStatus: ext, CircuitBreakers: breakers, PerformanceMetrics: perf}
	return a.cached
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
