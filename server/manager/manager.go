package manager

import (
	"container/list"
	"errors"
	"sync"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ErrNotFound is returned for a worker the manager does not know.
var ErrNotFound = errors.New("worker not found")

// ErrFull is returned for a new worker when MaxWorkers fresh workers are
// already known.
var ErrFull = errors.New("too many workers")

// Options configure a Manager. Zero values take the documented defaults.
type Options struct {
	// StaleAfter is how long a silent worker stays fresh. Default 5m.
	StaleAfter time.Duration
	// ForgetAfter is how long a silent worker is kept at all. Default 24h.
	ForgetAfter time.Duration
	// LegacyWorkerID names the pseudo-worker that owns updates sent without
	// a worker id. Default "legacy".
	LegacyWorkerID string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// ErrorsPerWorker, LogsPerWorker and CompletionsPerWorker size each
	// worker's event buffers. Defaults 50, 100, 50.
	ErrorsPerWorker, LogsPerWorker, CompletionsPerWorker int
	// FleetEvents sizes the fleet-wide buffers of each event kind. Default 200.
	FleetEvents int
	// MaxWorkers caps the known workers. When full, a new worker makes room
	// by forgetting the longest-silent stale worker, and is refused with
	// ErrFull if every known worker is fresh. Default 100,000.
	MaxWorkers int
	// FeedSize is how many changes the change feed retains; a watcher that
	// falls further behind is resynchronised from a snapshot. Default 16384.
	FeedSize int
}

func (o *Options) setDefaults() {
	if o.StaleAfter <= 0 {
		o.StaleAfter = 5 * time.Minute
	}
	if o.ForgetAfter <= 0 {
		o.ForgetAfter = 24 * time.Hour
	}
	if o.LegacyWorkerID == "" {
		o.LegacyWorkerID = "legacy"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	defaultInt(&o.ErrorsPerWorker, 50)
	defaultInt(&o.LogsPerWorker, 100)
	defaultInt(&o.CompletionsPerWorker, 50)
	defaultInt(&o.FleetEvents, 200)
	defaultInt(&o.FeedSize, 16384)
	defaultInt(&o.MaxWorkers, 100_000)
}

func defaultInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Manager holds the state of every worker. It is safe for concurrent use.
//
// Update methods take ownership of the messages passed in: the manager keeps
// them as they are and never modifies them afterwards, which is what lets
// readers share them without copying.
type Manager struct {
	opts Options

	mu            sync.Mutex
	workers       map[string]*worker
	fresh, stale  *list.List // each ordered by lastSeen, oldest first
	agg           *aggregator
	aggregateMode bool

	errors      ring[*musterv1.ErrorEvent]
	logs        ring[*musterv1.LogEntry]
	completions ring[*musterv1.CompletedExtraction]

	feed     feed
	watchers int
	resyncs  uint64
	closed   bool

	// dirty and forgotten record what changed since the last TakeChanges.
	dirty     []*worker
	forgotten map[string]struct{}
}

type worker struct {
	id         string
	status     *musterv1.ExtractionStatus
	breakers   map[string]*musterv1.CircuitBreaker
	perf       *musterv1.PerformanceMetrics
	workerType string
	lastSeen   time.Time
	stale      bool
	forgotten  bool
	elem       *list.Element
	// watchMsg is the worker's summary as a watch message, built once per
	// change and shared by every watcher (and read-only for all of them).
	watchMsg *musterv1.WatchResponse
	// dirty: in Manager.dirty, changed since the last TakeChanges.
	dirty bool
	// listedActive: in the aggregator's activeWorkers.
	listedActive bool

	errors      ring[*musterv1.ErrorEvent]
	logs        ring[*musterv1.LogEntry]
	completions ring[*musterv1.CompletedExtraction]
}

// New returns an empty Manager.
func New(opts Options) *Manager {
	opts.setDefaults()
	return &Manager{
		opts:          opts,
		workers:       map[string]*worker{},
		fresh:         list.New(),
		stale:         list.New(),
		agg:           newAggregator(),
		aggregateMode: true,
		errors:        newRing[*musterv1.ErrorEvent](opts.FleetEvents),
		logs:          newRing[*musterv1.LogEntry](opts.FleetEvents),
		completions:   newRing[*musterv1.CompletedExtraction](opts.FleetEvents),
		feed:          newFeed(opts.FeedSize),
		forgotten:     map[string]struct{}{},
	}
}

// Options returns the manager's effective options.
func (m *Manager) Options() Options { return m.opts }

// resolve maps the empty id to the legacy pseudo-worker.
func (m *Manager) resolve(id string) string {
	if id == "" {
		return m.opts.LegacyWorkerID
	}
	return id
}

// begin locks the manager and brings liveness up to date; every operation
// starts with it, so no reader ever sees a worker past its deadline as fresh.
func (m *Manager) begin() time.Time {
	m.mu.Lock()
	now := m.opts.Now()
	m.sweep(now)
	return now
}

// touch returns the worker with id, created if needed, after refreshing its
// last-seen time (a sign of life). It fails only for a new worker when the
// manager is full of fresh ones.
func (m *Manager) touch(id string, now time.Time) (*worker, error) {
	w := m.workers[id]
	if w == nil {
		if len(m.workers) >= m.opts.MaxWorkers {
			oldest := m.stale.Front()
			if oldest == nil {
				return nil, ErrFull
			}
			m.forget(oldest.Value.(*worker))
		}
		w = m.newWorker(id, now)
		m.add(w)
		return w, nil
	}
	w.lastSeen = now
	if w.stale {
		m.setStale(w, false)
	} else {
		m.fresh.MoveToBack(w.elem)
	}
	return w, nil
}

func (m *Manager) newWorker(id string, lastSeen time.Time) *worker {
	return &worker{
		id:          id,
		breakers:    map[string]*musterv1.CircuitBreaker{},
		lastSeen:    lastSeen,
		errors:      newRing[*musterv1.ErrorEvent](m.opts.ErrorsPerWorker),
		logs:        newRing[*musterv1.LogEntry](m.opts.LogsPerWorker),
		completions: newRing[*musterv1.CompletedExtraction](m.opts.CompletionsPerWorker),
	}
}

// add makes a new worker known, as fresh and the most recently seen.
func (m *Manager) add(w *worker) {
	m.workers[w.id] = w
	w.elem = m.fresh.PushBack(w)
	m.agg.all(w, 1)
}

// setStale moves a worker between fresh and stale, with its contributions.
func (m *Manager) setStale(w *worker, stale bool) {
	m.agg.all(w, -1)
	w.stale = stale
	m.agg.all(w, 1)
	from, to := m.fresh, m.stale
	if !stale {
		from, to = m.stale, m.fresh
	}
	from.Remove(w.elem)
	w.elem = to.PushBack(w)
	m.changed(w)
}

// sweep applies every liveness transition due at now. The lists are ordered
// by last-seen time, so it stops at the first worker that is still in time.
func (m *Manager) sweep(now time.Time) {
	for e := m.fresh.Front(); e != nil; e = m.fresh.Front() {
		w := e.Value.(*worker)
		silent := now.Sub(w.lastSeen)
		if silent <= m.opts.StaleAfter && silent <= m.opts.ForgetAfter {
			break
		}
		if silent > m.opts.ForgetAfter {
			m.forget(w)
		} else {
			m.setStale(w, true)
		}
	}
	for e := m.stale.Front(); e != nil; e = m.stale.Front() {
		w := e.Value.(*worker)
		if now.Sub(w.lastSeen) <= m.opts.ForgetAfter {
			break
		}
		m.forget(w)
	}
}

func (m *Manager) forget(w *worker) {
	m.agg.all(w, -1)
	w.forgotten = true
	m.agg.syncActive(w)
	if w.stale {
		m.stale.Remove(w.elem)
	} else {
		m.fresh.Remove(w.elem)
	}
	delete(m.workers, w.id)
	m.forgotten[w.id] = struct{}{}
	m.feed.push(change{kind: changeRemoved, workerID: w.id})
}

// changed records that a worker's state changed, for watchers and the store.
func (m *Manager) changed(w *worker) {
	w.watchMsg = nil
	if !w.dirty {
		w.dirty = true
		m.dirty = append(m.dirty, w)
	}
	if len(m.forgotten) > 0 {
		delete(m.forgotten, w.id)
	}
	m.feed.push(change{kind: changeWorker, workerID: w.id})
}

// Sweep applies liveness transitions that are due; the server calls it on a
// ticker so watchers learn of silent workers without waiting for traffic.
func (m *Manager) Sweep() {
	m.begin()
	m.mu.Unlock()
}

// UpdateExtractionStatus replaces a worker's extraction status. An unset
// status means idle; an empty diocese means none.
func (m *Manager) UpdateExtractionStatus(id string, st *musterv1.ExtractionStatus) error {
	if st == nil {
		st = &musterv1.ExtractionStatus{}
	}
	if st.GetStatus() == musterv1.ExtractionState_EXTRACTION_STATE_UNSPECIFIED {
		st.Status = musterv1.ExtractionState_EXTRACTION_STATE_IDLE
	}
	if st.CurrentDiocese != nil && *st.CurrentDiocese == "" {
		st.CurrentDiocese = nil
	}
	now := m.begin()
	defer m.mu.Unlock()
	w, err := m.touch(m.resolve(id), now)
	if err != nil {
		return err
	}
	old := w.status
	m.agg.extraction(w, -1)
	w.status = st
	m.agg.extraction(w, 1)
	m.agg.syncActive(w)
	m.agg.statusChanged(w, old)
	m.changed(w)
	return nil
}

// UpdateCircuitBreakers merges breakers into a worker's by name. An unset
// state means CLOSED; a missing rate is derived from the counts.
func (m *Manager) UpdateCircuitBreakers(id string, breakers map[string]*musterv1.CircuitBreaker) error {
	for name, b := range breakers {
		if b == nil {
			delete(breakers, name)
			continue
		}
		if b.GetState() == musterv1.BreakerState_BREAKER_STATE_UNSPECIFIED {
			b.State = musterv1.BreakerState_BREAKER_STATE_CLOSED
		}
		if b.GetSuccessRate() == 0 && b.GetTotalSuccesses() > 0 && b.GetTotalRequests() > 0 {
			b.SuccessRate = round1(float64(b.GetTotalSuccesses()) / float64(b.GetTotalRequests()) * 100)
		}
	}
	now := m.begin()
	defer m.mu.Unlock()
	w, err := m.touch(m.resolve(id), now)
	if err != nil {
		return err
	}
	for name, b := range breakers {
		if old, ok := w.breakers[name]; ok && !w.stale {
			m.agg.breaker(name, old, -1)
		}
		w.breakers[name] = b
		if !w.stale {
			m.agg.breaker(name, b, 1)
		}
	}
	m.changed(w)
	return nil
}

// UpdatePerformance replaces a worker's performance metrics.
func (m *Manager) UpdatePerformance(id string, p *musterv1.PerformanceMetrics) error {
	if p == nil {
		p = &musterv1.PerformanceMetrics{}
	}
	now := m.begin()
	defer m.mu.Unlock()
	w, err := m.touch(m.resolve(id), now)
	if err != nil {
		return err
	}
	m.agg.performance(w, -1)
	w.perf = p
	m.agg.performance(w, 1)
	m.changed(w)
	return nil
}

// Heartbeat refreshes a worker's liveness and, when workerType is not
// empty, records its type.
func (m *Manager) Heartbeat(id, workerType string) error {
	now := m.begin()
	defer m.mu.Unlock()
	w, err := m.touch(m.resolve(id), now)
	if err != nil {
		return err
	}
	if workerType != "" {
		w.workerType = workerType
	}
	m.changed(w)
	return nil
}

// eventWorker returns the worker an event belongs to, or nil for a
// fleet-wide event.
func (m *Manager) eventWorker(id string, now time.Time) (*worker, error) {
	if id == "" {
		return nil, nil
	}
	w, err := m.touch(id, now)
	if err != nil {
		return nil, err
	}
	m.changed(w)
	return w, nil
}

// ReportError records an error; e.WorkerId empty makes it fleet-wide.
func (m *Manager) ReportError(e *musterv1.ErrorEvent) error {
	now := m.begin()
	defer m.mu.Unlock()
	e.Timestamp = timestamppb.New(now)
	w, err := m.eventWorker(e.GetWorkerId(), now)
	if err != nil {
		return err
	}
	if w != nil {
		w.errors.push(e)
	}
	m.errors.push(e)
	m.feed.push(change{kind: changeEvent, event: &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Error{Error: e}}})
	return nil
}

// ReportLog records a log line; a non-empty worker_type becomes the
// worker's type.
func (m *Manager) ReportLog(e *musterv1.LogEntry) error {
	now := m.begin()
	defer m.mu.Unlock()
	e.Timestamp = timestamppb.New(now)
	w, err := m.eventWorker(e.GetWorkerId(), now)
	if err != nil {
		return err
	}
	if w != nil {
		w.logs.push(e)
		if e.GetWorkerType() != "" {
			w.workerType = e.GetWorkerType()
		}
	}
	m.logs.push(e)
	m.feed.push(change{kind: changeEvent, event: &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Log{Log: e}}})
	return nil
}

// ReportCompletion records a completed extraction.
func (m *Manager) ReportCompletion(e *musterv1.CompletedExtraction) error {
	now := m.begin()
	defer m.mu.Unlock()
	e.Timestamp = timestamppb.New(now)
	w, err := m.eventWorker(e.GetWorkerId(), now)
	if err != nil {
		return err
	}
	if w != nil {
		w.completions.push(e)
	}
	m.completions.push(e)
	m.feed.push(change{kind: changeEvent, event: &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Completion{Completion: e}}})
	return nil
}

// Forget removes a worker now.
func (m *Manager) Forget(id string) error {
	m.begin()
	defer m.mu.Unlock()
	w := m.workers[m.resolve(id)]
	if w == nil {
		return ErrNotFound
	}
	m.forget(w)
	return nil
}

// SetAggregateMode sets the legacy global view mode.
func (m *Manager) SetAggregateMode(on bool) {
	m.begin()
	defer m.mu.Unlock()
	if m.aggregateMode != on {
		m.aggregateMode = on
		m.feed.push(change{kind: changeMode})
	}
}

// AggregateMode reports the legacy global view mode.
func (m *Manager) AggregateMode() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.aggregateMode
}

// Aggregate returns the fleet aggregate. The result is shared: do not
// modify it.
func (m *Manager) Aggregate() *musterv1.Aggregate {
	m.begin()
	defer m.mu.Unlock()
	return m.agg.build()
}

// Worker returns one worker's full status.
func (m *Manager) Worker(id string) (*musterv1.WorkerStatus, error) {
	m.begin()
	defer m.mu.Unlock()
	w := m.workers[m.resolve(id)]
	if w == nil {
		return nil, ErrNotFound
	}
	return w.full(-1), nil
}

// Workers returns a summary of every known worker, ordered by id.
func (m *Manager) Workers() []*musterv1.WorkerSummary {
	m.begin()
	defer m.mu.Unlock()
	return m.summaries()
}

func (m *Manager) summaries() []*musterv1.WorkerSummary {
	out := make([]*musterv1.WorkerSummary, 0, len(m.workers))
	for _, w := range m.workers {
		out = append(out, w.summaryMessage().GetWorkerChanged())
	}
	sortSummaries(out)
	return out
}

// Recent returns the fleet's newest n errors, log lines and completions,
// newest first; n < 0 means all that are kept.
func (m *Manager) Recent(n int) ([]*musterv1.ErrorEvent, []*musterv1.LogEntry, []*musterv1.CompletedExtraction) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.errors.newest(n), m.logs.newest(n), m.completions.newest(n)
}

// Stats are counts for monitoring Muster itself.
type Stats struct {
	Workers, Stale int
	// Watchers is the number of open watches; Resyncs counts the times a
	// watcher fell behind the feed and was sent a fresh snapshot.
	Watchers int
	Resyncs  uint64
}

// Stats returns the manager's counts.
func (m *Manager) Stats() Stats {
	m.begin()
	defer m.mu.Unlock()
	return Stats{Workers: len(m.workers), Stale: m.stale.Len(), Watchers: m.watchers, Resyncs: m.resyncs}
}

// Watchers returns the number of open watches.
func (m *Manager) Watchers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watchers
}

func (w *worker) health() musterv1.Health {
	if w.stale {
		return musterv1.Health_HEALTH_STALE
	}
	return musterv1.Health_HEALTH_FRESH
}

// summaryMessage returns the cached watch message of the worker's summary.
func (w *worker) summaryMessage() *musterv1.WatchResponse {
	if w.watchMsg == nil {
		w.watchMsg = &musterv1.WatchResponse{Event: &musterv1.WatchResponse_WorkerChanged{WorkerChanged: w.summary()}}
	}
	return w.watchMsg
}

func (w *worker) summary() *musterv1.WorkerSummary {
	s := &musterv1.WorkerSummary{
		WorkerId:    w.id,
		Status:      musterv1.ExtractionState_EXTRACTION_STATE_IDLE,
		LastUpdated: timestamppb.New(w.lastSeen),
		Health:      w.health(),
		WorkerType:  w.workerType,
	}
	if st := w.status; st != nil {
		s.Status = st.GetStatus()
		s.CurrentDiocese = st.CurrentDiocese
		s.ParishesProcessed = st.GetParishesProcessed()
		s.TotalParishes = st.GetTotalParishes()
		s.SuccessRate = st.GetSuccessRate()
	}
	return s
}

// full returns the worker's status with its newest events (n < 0: all kept).
func (w *worker) full(n int) *musterv1.WorkerStatus {
	breakers := make(map[string]*musterv1.CircuitBreaker, len(w.breakers))
	for name, b := range w.breakers {
		breakers[name] = b
	}
	return &musterv1.WorkerStatus{
		WorkerId:           w.id,
		ExtractionStatus:   w.status,
		CircuitBreakers:    breakers,
		PerformanceMetrics: w.perf,
		LastUpdated:        timestamppb.New(w.lastSeen),
		Health:             w.health(),
		WorkerType:         w.workerType,
		RecentErrors:       w.errors.newest(n),
		RecentLogs:         w.logs.newest(n),
		ExtractionHistory:  w.completions.newest(n),
	}
}
