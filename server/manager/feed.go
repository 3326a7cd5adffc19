package manager

import (
	"context"
	"errors"
	"slices"
	"strings"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
)

type changeKind uint8

const (
	changeWorker  changeKind = iota // a worker's state or liveness changed
	changeRemoved                   // a worker was forgotten
	changeEvent                     // an error, log line or completion arrived
	changeMode                      // the legacy view mode changed
)

type change struct {
	kind     changeKind
	workerID string
	event    *musterv1.WatchResponse
}

// feed is the change log watchers read: a ring of the newest changes with a
// sequence number each. Writers never wait for readers; a reader that falls
// out of the ring starts again from a snapshot. The cost of a change is the
// same with one watcher or a thousand.
type feed struct {
	entries []change
	seq     uint64        // sequence number of the newest change
	wake    chan struct{} // closed on the next change; nil when nobody waits
}

func newFeed(size int) feed { return feed{entries: make([]change, size)} }

func (f *feed) push(c change) {
	f.seq++
	f.entries[f.seq%uint64(len(f.entries))] = c
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
}

func (f *feed) wait() <-chan struct{} {
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return f.wake
}

// Watcher reads the change feed for one subscriber.
type Watcher struct {
	m       *Manager
	focus   string
	cursor  uint64 // sequence number of the last change seen
	started bool   // the snapshot has been sent
	closed  bool
}

// Watch starts a watch. focus, when not empty, names a worker whose full
// status the watcher also receives. The first call to Next returns the
// snapshot. Close the watcher when done.
func (m *Manager) Watch(focus string) *Watcher {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watchers++
	return &Watcher{m: m, focus: focus}
}

// Close ends the watch.
func (w *Watcher) Close() {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if !w.closed {
		w.closed = true
		w.m.watchers--
	}
}

// Next blocks until there are changes (or ctx ends) and returns them,
// coalesced: every event in order, then one summary per changed worker, the
// new aggregate if any worker changed, and the focused worker's full status
// if it changed. The first call, and any call after the watcher fell behind
// the feed, returns a single snapshot instead.
func (w *Watcher) Next(ctx context.Context) ([]*musterv1.WatchResponse, error) {
	m := w.m
	for {
		m.begin()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if !w.started || m.feed.seq-w.cursor >= uint64(len(m.feed.entries)) {
			if w.started {
				m.resyncs++ // fell behind the feed
			}
			w.cursor, w.started = m.feed.seq, true
			snap := m.snapshot(w.focus)
			m.mu.Unlock()
			return []*musterv1.WatchResponse{{Event: &musterv1.WatchResponse_Snapshot{Snapshot: snap}}}, nil
		}
		if w.cursor < m.feed.seq {
			out := m.changesSince(w.cursor, w.focus)
			w.cursor = m.feed.seq
			m.mu.Unlock()
			if len(out) > 0 {
				return out, nil
			}
			continue
		}
		wake := m.feed.wait()
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// ErrClosed is returned by Watcher.Next once the manager is closed.
var ErrClosed = errors.New("manager closed")

// Close ends every watch, so that streams end and a server can shut down
// without waiting on watchers. Updates are still accepted.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.feed.wake != nil {
		close(m.feed.wake)
		m.feed.wake = nil
	}
}

// Closed reports whether Close was called.
func (m *Manager) Closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *Manager) snapshot(focus string) *musterv1.WatchSnapshot {
	snap := &musterv1.WatchSnapshot{
		Workers:           m.summaries(),
		Aggregate:         m.agg.build(),
		RecentErrors:      m.errors.newest(-1),
		RecentLogs:        m.logs.newest(-1),
		ExtractionHistory: m.completions.newest(-1),
		AggregateMode:     m.aggregateMode,
	}
	if w := m.workers[focus]; focus != "" && w != nil {
		snap.Worker = w.full(-1)
	}
	return snap
}

func (m *Manager) changesSince(cursor uint64, focus string) []*musterv1.WatchResponse {
	var out []*musterv1.WatchResponse
	touched := map[string]bool{}
	mode := false
	for seq := cursor + 1; seq <= m.feed.seq; seq++ {
		c := m.feed.entries[seq%uint64(len(m.feed.entries))]
		switch c.kind {
		case changeEvent:
			out = append(out, c.event)
		case changeMode:
			mode = true
		default:
			touched[c.workerID] = true
		}
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if w := m.workers[id]; w != nil {
			out = append(out, w.summaryMessage())
		} else {
			out = append(out, &musterv1.WatchResponse{Event: &musterv1.WatchResponse_WorkerRemoved{WorkerRemoved: id}})
		}
	}
	if len(ids) > 0 {
		out = append(out, &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Aggregate{Aggregate: m.agg.build()}})
	}
	if w := m.workers[focus]; touched[focus] && w != nil {
		out = append(out, &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Worker{Worker: w.full(-1)}})
	}
	if mode {
		out = append(out, &musterv1.WatchResponse{Event: &musterv1.WatchResponse_AggregateMode{AggregateMode: m.aggregateMode}})
	}
	return out
}

func sortSummaries(s []*musterv1.WorkerSummary) {
	slices.SortFunc(s, func(a, b *musterv1.WorkerSummary) int { return strings.Compare(a.GetWorkerId(), b.GetWorkerId()) })
}
