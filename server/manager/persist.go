package manager

import (
	"slices"
	"strings"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TakeChanges returns the full status of every worker that changed since
// the last call and the ids of the workers forgotten since then, for a
// store to write. It copies only what changed, so the cost follows the
// update rate, not the fleet size.
func (m *Manager) TakeChanges() (puts []*musterv1.WorkerStatus, deletes []string) {
	m.begin()
	defer m.mu.Unlock()
	for _, w := range m.dirty {
		w.dirty = false
		if !w.forgotten {
			puts = append(puts, w.full(-1))
		}
	}
	for id := range m.forgotten {
		deletes = append(deletes, id)
	}
	clear(m.dirty) // drop the pointers, so forgotten workers can be collected
	m.dirty = m.dirty[:0]
	clear(m.forgotten)
	slices.SortFunc(puts, func(a, b *musterv1.WorkerStatus) int {
		return strings.Compare(a.GetWorkerId(), b.GetWorkerId())
	})
	slices.Sort(deletes)
	return puts, deletes
}

// All returns the full status of every worker, as TakeChanges would if
// every worker had changed.
func (m *Manager) All() []*musterv1.WorkerStatus {
	m.begin()
	defer m.mu.Unlock()
	out := make([]*musterv1.WorkerStatus, 0, len(m.workers))
	for _, w := range m.workers {
		out = append(out, w.full(-1))
	}
	return out
}

// Restore loads the workers a store saved into an empty manager at
// startup. Their last-seen times are kept, so liveness resumes where it left
// off: a worker silent for too long comes back stale, or not at all.
func (m *Manager) Restore(workers []*musterv1.WorkerStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	saved := slices.Clone(workers)
	// The fresh list must stay ordered by last-seen time for the sweep.
	slices.SortFunc(saved, func(a, b *musterv1.WorkerStatus) int {
		return a.GetLastUpdated().AsTime().Compare(b.GetLastUpdated().AsTime())
	})
	var errs []*musterv1.ErrorEvent
	var logs []*musterv1.LogEntry
	var completions []*musterv1.CompletedExtraction
	for _, s := range saved {
		if m.workers[s.GetWorkerId()] != nil {
			continue
		}
		w := m.newWorker(s.GetWorkerId(), s.GetLastUpdated().AsTime())
		w.status = s.GetExtractionStatus()
		for name, b := range s.GetCircuitBreakers() {
			w.breakers[name] = b
		}
		w.perf = s.GetPerformanceMetrics()
		w.workerType = s.GetWorkerType()
		// Events are saved newest first; replay them oldest first.
		for _, e := range slices.Backward(s.GetRecentErrors()) {
			w.errors.push(e)
		}
		for _, e := range slices.Backward(s.GetRecentLogs()) {
			w.logs.push(e)
		}
		for _, e := range slices.Backward(s.GetExtractionHistory()) {
			w.completions.push(e)
		}
		m.add(w)
		errs = append(errs, s.GetRecentErrors()...)
		logs = append(logs, s.GetRecentLogs()...)
		completions = append(completions, s.GetExtractionHistory()...)
	}
	// The fleet-wide buffers are rebuilt from the workers' events, oldest
	// first. (Events that belonged to no worker are not saved.)
	replay(&m.errors, errs)
	replay(&m.logs, logs)
	replay(&m.completions, completions)
	m.sweep(m.opts.Now())
}

// replay pushes events into a ring in timestamp order.
func replay[E interface{ GetTimestamp() *timestamppb.Timestamp }](r *ring[E], events []E) {
	slices.SortStableFunc(events, func(a, b E) int { return a.GetTimestamp().AsTime().Compare(b.GetTimestamp().AsTime()) })
	for _, e := range events {
		r.push(e)
	}
}
