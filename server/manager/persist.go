package manager

import (
	"slices"
	"strings"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
)

// TakeChanges returns the full status of every worker that changed since
// the last call and the ids of the workers forgotten since then, for a
// store to write. It copies only what changed, so the cost follows the
// update rate, not the fleet size.
func (m *Manager) TakeChanges() (puts []*musterv1.WorkerStatus, deletes []string) {
	m.begin()
	defer m.mu.Unlock()
	for id := range m.dirty {
		if w := m.workers[id]; w != nil {
			puts = append(puts, w.full(-1))
		}
	}
	for id := range m.forgotten {
		deletes = append(deletes, id)
	}
	clear(m.dirty)
	clear(m.forgotten)
	slices.SortFunc(puts, func(a, b *musterv1.WorkerStatus) int {
		return strings.Compare(a.GetWorkerId(), b.GetWorkerId())
	})
	slices.Sort(deletes)
	return puts, deletes
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
	}
	m.sweep(m.opts.Now())
}
