package manager_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/fakeclock"
	"github.com/musterhq/muster/server/manager"
	"google.golang.org/protobuf/proto"
)

// contextWithCancel returns a context cancelled at the latest when the test
// ends.
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

// next calls w.Next when changes are known to be pending. The timeout only
// guards against a hang; it is never waited for when the code is right.
func next(t *testing.T, w *manager.Watcher) []*musterv1.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return out
}

// expectNothing checks that no change is pending: with a cancelled context
// Next must return the context's error.
func expectNothing(t *testing.T, w *manager.Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := w.Next(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next with nothing pending = %s, err %v; want context.Canceled", describe(out), err)
	}
}

// batch is one Next result sorted by kind.
type batch struct {
	snapshot   *musterv1.WatchSnapshot
	changed    map[string]*musterv1.WorkerSummary
	removed    []string
	aggregates []*musterv1.Aggregate
	events     []string // "error:msg", "log:msg", "completion:diocese", in order
	workers    []*musterv1.WorkerStatus
	modes      []bool
}

func split(t *testing.T, resps []*musterv1.WatchResponse) batch {
	t.Helper()
	b := batch{changed: map[string]*musterv1.WorkerSummary{}}
	for _, r := range resps {
		switch e := r.GetEvent().(type) {
		case *musterv1.WatchResponse_Snapshot:
			if len(resps) != 1 {
				t.Errorf("snapshot arrived with %d other responses, want alone", len(resps)-1)
			}
			b.snapshot = e.Snapshot
		case *musterv1.WatchResponse_WorkerChanged:
			id := e.WorkerChanged.GetWorkerId()
			if _, dup := b.changed[id]; dup {
				t.Errorf("worker_changed for %q sent twice in one batch, want coalesced", id)
			}
			b.changed[id] = e.WorkerChanged
		case *musterv1.WatchResponse_WorkerRemoved:
			b.removed = append(b.removed, e.WorkerRemoved)
		case *musterv1.WatchResponse_Aggregate:
			b.aggregates = append(b.aggregates, e.Aggregate)
		case *musterv1.WatchResponse_Error:
			b.events = append(b.events, "error:"+e.Error.GetMessage())
		case *musterv1.WatchResponse_Log:
			b.events = append(b.events, "log:"+e.Log.GetMessage())
		case *musterv1.WatchResponse_Completion:
			b.events = append(b.events, "completion:"+e.Completion.GetDioceseName())
		case *musterv1.WatchResponse_Worker:
			b.workers = append(b.workers, e.Worker)
		case *musterv1.WatchResponse_AggregateMode:
			b.modes = append(b.modes, e.AggregateMode)
		default:
			t.Errorf("unexpected response %v", r)
		}
	}
	for _, id := range b.removed {
		if _, ok := b.changed[id]; ok {
			t.Errorf("worker %q both changed and removed in one batch", id)
		}
	}
	return b
}

func describe(resps []*musterv1.WatchResponse) string {
	var kinds []string
	for _, r := range resps {
		kinds = append(kinds, fmt.Sprintf("%T", r.GetEvent()))
	}
	return fmt.Sprint(kinds)
}

func (b batch) changedIDs() []string { return sortedKeys(b.changed) }

// ---------------------------------------------------------------------------

func TestWatchSnapshot(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	populate(m, c)
	m.ReportLog(&musterv1.LogEntry{Message: "fleet log"})
	m.SetAggregateMode(false)

	tests := []struct {
		focus      string
		wantWorker bool
	}{
		{"", false},
		{"w1", true},
		{"legacy", true},
		{"unknown", false},
	}
	for _, tt := range tests {
		w := m.Watch(tt.focus)
		b := split(t, next(t, w))
		w.Close()
		s := b.snapshot
		if s == nil {
			t.Fatalf("focus %q: first Next did not return a snapshot", tt.focus)
		}
		if d := diff(m.Workers(), s.GetWorkers()); d != "" {
			t.Errorf("focus %q: snapshot workers mismatch (-Workers() +snapshot):\n%s", tt.focus, d)
		}
		if d := diff(m.Aggregate(), s.GetAggregate()); d != "" {
			t.Errorf("focus %q: snapshot aggregate mismatch (-Aggregate() +snapshot):\n%s", tt.focus, d)
		}
		e, l, cs := m.Recent(-1)
		if d := diff(e, s.GetRecentErrors()); d != "" {
			t.Errorf("focus %q: snapshot errors mismatch (-Recent +snapshot):\n%s", tt.focus, d)
		}
		if d := diff(l, s.GetRecentLogs()); d != "" {
			t.Errorf("focus %q: snapshot logs mismatch (-Recent +snapshot):\n%s", tt.focus, d)
		}
		if d := diff(cs, s.GetExtractionHistory()); d != "" {
			t.Errorf("focus %q: snapshot history mismatch (-Recent +snapshot):\n%s", tt.focus, d)
		}
		if s.GetAggregateMode() {
			t.Errorf("focus %q: snapshot aggregate_mode = true, want false", tt.focus)
		}
		if !tt.wantWorker {
			if s.GetWorker() != nil {
				t.Errorf("focus %q: snapshot has worker %q, want none", tt.focus, s.GetWorker().GetWorkerId())
			}
			continue
		}
		if d := diff(mustWorker(t, m, tt.focus), s.GetWorker()); d != "" {
			t.Errorf("focus %q: snapshot worker mismatch (-Worker() +snapshot):\n%s", tt.focus, d)
		}
	}
}

// On a manager that has never changed, the first Next is a snapshot and the
// second waits for a change instead of sending the snapshot again.
func TestWatchOnEmptyManager(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	w := m.Watch("")
	defer w.Close()
	b := split(t, next(t, w))
	if b.snapshot == nil || len(b.snapshot.GetWorkers()) != 0 {
		t.Fatalf("first Next = %+v, want an empty snapshot", b)
	}
	expectNothing(t, w)

	m.Heartbeat("w1", "")
	resps := next(t, w)
	b = split(t, resps)
	if b.snapshot != nil {
		t.Fatalf("Next after the first change = snapshot, want the change (worker_changed w1 + aggregate)")
	}
	if got := b.changedIDs(); !slices.Equal(got, []string{"w1"}) {
		t.Errorf("changed = %v, want [w1]", got)
	}
	if len(b.aggregates) != 1 {
		t.Errorf("got %d aggregates, want 1", len(b.aggregates))
	}
}

func TestWatchCoalesces(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{})
	m.UpdateExtractionStatus("w1", ext(running, ptr("A"), 1, 100, 50))
	m.Heartbeat("w2", "")
	m.Heartbeat("w3", "")
	w := m.Watch("")
	defer w.Close()
	if b := split(t, next(t, w)); b.snapshot == nil {
		t.Fatal("first Next did not return a snapshot")
	}
	expectNothing(t, w)

	c.Advance(time.Second)
	m.UpdateExtractionStatus("w1", ext(running, ptr("A"), 2, 100, 50))
	m.ReportError(&musterv1.ErrorEvent{Message: "e1"}) // fleet-wide
	m.UpdateExtractionStatus("w1", ext(running, ptr("B"), 3, 100, 60))
	m.ReportLog(&musterv1.LogEntry{WorkerId: "w3", Message: "l1", WorkerType: "discovery"})
	m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: "w4", DioceseName: "c1"}) // new worker
	m.UpdateCircuitBreakers("w1", map[string]*musterv1.CircuitBreaker{"db": {State: bOpen}})
	m.ReportError(&musterv1.ErrorEvent{WorkerId: "w1", Message: "e2"})
	m.UpdateExtractionStatus("w1", ext(paused, ptr("C"), 4, 100, 70))

	b := split(t, next(t, w))
	if b.snapshot != nil {
		t.Fatal("got a snapshot, want changes")
	}
	if want := []string{"error:e1", "log:l1", "completion:c1", "error:e2"}; !slices.Equal(b.events, want) {
		t.Errorf("events = %v, want %v in order", b.events, want)
	}
	if got, want := b.changedIDs(), []string{"w1", "w3", "w4"}; !slices.Equal(got, want) {
		t.Errorf("changed workers = %v, want %v (w2 did not change)", got, want)
	}
	all := map[string]*musterv1.WorkerSummary{}
	for _, s := range m.Workers() {
		all[s.GetWorkerId()] = s
	}
	for id, s := range b.changed {
		if d := diff(all[id], s); d != "" {
			t.Errorf("worker_changed %q is not the latest summary (-Workers() +change):\n%s", id, d)
		}
	}
	if s := b.changed["w1"]; s.GetStatus() != paused || s.GetParishesProcessed() != 4 || s.GetCurrentDiocese() != "C" {
		t.Errorf("w1 summary = %v, want the last update (paused, 4, C)", s)
	}
	if s := b.changed["w3"]; s.GetWorkerType() != "discovery" {
		t.Errorf("w3 worker_type = %q, want discovery", s.GetWorkerType())
	}
	if len(b.aggregates) != 1 {
		t.Fatalf("got %d aggregates, want exactly 1", len(b.aggregates))
	}
	if d := diff(m.Aggregate(), b.aggregates[0]); d != "" {
		t.Errorf("aggregate is not the latest (-Aggregate() +change):\n%s", d)
	}
	if len(b.workers) != 0 || len(b.removed) != 0 || len(b.modes) != 0 {
		t.Errorf("unexpected full workers %d, removed %v, modes %v", len(b.workers), b.removed, b.modes)
	}
	expectNothing(t, w)
}

func TestWatchFleetEventsOnly(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	w := m.Watch("w1")
	defer w.Close()
	next(t, w)
	m.ReportError(&musterv1.ErrorEvent{Message: "a"})
	m.ReportLog(&musterv1.LogEntry{Message: "b"})
	m.ReportCompletion(&musterv1.CompletedExtraction{DioceseName: "c"})
	b := split(t, next(t, w))
	if want := []string{"error:a", "log:b", "completion:c"}; !slices.Equal(b.events, want) {
		t.Errorf("events = %v, want %v", b.events, want)
	}
	if len(b.changed) != 0 || len(b.aggregates) != 0 || len(b.workers) != 0 {
		t.Errorf("fleet-wide events gave changed %v, %d aggregates, %d workers; want none",
			b.changedIDs(), len(b.aggregates), len(b.workers))
	}
}

func TestWatchFocus(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.UpdateExtractionStatus("w1", ext(running, nil, 1, 10, 100))
	m.Heartbeat("w2", "")
	w := m.Watch("w1")
	defer w.Close()
	if b := split(t, next(t, w)); b.snapshot.GetWorker().GetWorkerId() != "w1" {
		t.Fatalf("snapshot worker = %v, want w1", b.snapshot.GetWorker())
	}

	steps := []struct {
		name       string
		do         func()
		wantWorker bool
	}{
		{"other worker changes", func() { m.UpdateExtractionStatus("w2", ext(running, nil, 1, 1, 1)) }, false},
		{"focus worker changes thrice", func() {
			m.UpdateExtractionStatus("w1", ext(running, nil, 2, 10, 100))
			m.UpdatePerformance("w1", &musterv1.PerformanceMetrics{QueueSize: 9})
			m.UpdateExtractionStatus("w1", ext(running, nil, 3, 10, 100))
		}, true},
		{"focus worker's event", func() { m.ReportLog(&musterv1.LogEntry{WorkerId: "w1", Message: "x"}) }, true},
		{"focus worker's heartbeat", func() { m.Heartbeat("w1", "t") }, true},
		{"fleet-wide event", func() { m.ReportError(&musterv1.ErrorEvent{Message: "f"}) }, false},
	}
	for _, s := range steps {
		s.do()
		b := split(t, next(t, w))
		if !s.wantWorker {
			if len(b.workers) != 0 {
				t.Errorf("%s: got %d full worker statuses, want none", s.name, len(b.workers))
			}
			continue
		}
		if len(b.workers) != 1 {
			t.Errorf("%s: got %d full worker statuses, want 1", s.name, len(b.workers))
			continue
		}
		if d := diff(mustWorker(t, m, "w1"), b.workers[0]); d != "" {
			t.Errorf("%s: full status is not the latest (-Worker() +change):\n%s", s.name, d)
		}
	}

	// The focus worker is forgotten: removed, and no full status.
	if err := m.Forget("w1"); err != nil {
		t.Fatal(err)
	}
	b := split(t, next(t, w))
	if !slices.Equal(b.removed, []string{"w1"}) || len(b.workers) != 0 {
		t.Errorf("after Forget: removed %v, %d full statuses; want [w1] and none", b.removed, len(b.workers))
	}
	// It comes back.
	m.Heartbeat("w1", "back")
	b = split(t, next(t, w))
	if len(b.workers) != 1 || b.workers[0].GetWorkerType() != "back" {
		t.Errorf("after re-creation: full statuses %v, want w1 with type back", b.workers)
	}
}

func TestWatchFocusOnUnknownWorker(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	w := m.Watch("later")
	defer w.Close()
	if b := split(t, next(t, w)); b.snapshot.GetWorker() != nil {
		t.Fatalf("snapshot worker = %v, want none", b.snapshot.GetWorker())
	}
	m.Heartbeat("later", "x")
	b := split(t, next(t, w))
	if len(b.workers) != 1 || b.workers[0].GetWorkerId() != "later" {
		t.Errorf("full statuses = %v, want the new worker", b.workers)
	}
}

func TestWatchRemovals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(m *manager.Manager, c *fakeclock.Clock)
	}{
		{"Forget", func(m *manager.Manager, _ *fakeclock.Clock) { _ = m.Forget("w2") }},
		{"changed then forgotten", func(m *manager.Manager, _ *fakeclock.Clock) {
			m.UpdateExtractionStatus("w2", ext(running, nil, 5, 5, 5))
			_ = m.Forget("w2")
		}},
		{"forget_after", func(m *manager.Manager, c *fakeclock.Clock) {
			c.Advance(forgetAfter / 2)
			m.Heartbeat("w1", "")
			c.Advance(forgetAfter/2 + time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			m.UpdateExtractionStatus("w1", ext(running, nil, 1, 2, 100))
			m.UpdateExtractionStatus("w2", ext(running, nil, 1, 2, 100))
			w := m.Watch("w2")
			defer w.Close()
			next(t, w)
			tt.do(m, c)
			b := split(t, next(t, w))
			if !slices.Equal(b.removed, []string{"w2"}) {
				t.Errorf("removed = %v, want [w2]", b.removed)
			}
			if _, ok := b.changed["w2"]; ok {
				t.Error("forgotten w2 also sent as worker_changed")
			}
			if len(b.workers) != 0 {
				t.Errorf("got %d full statuses for the forgotten focus worker, want none", len(b.workers))
			}
			if len(b.aggregates) != 1 {
				t.Fatalf("got %d aggregates, want 1", len(b.aggregates))
			}
			if d := diff(m.Aggregate(), b.aggregates[0]); d != "" {
				t.Errorf("aggregate is not the latest (-Aggregate() +change):\n%s", d)
			}
			if n := b.aggregates[0].GetExtractionStatus().GetTotalWorkers(); n != 1 {
				t.Errorf("total_workers = %d, want 1", n)
			}
		})
	}
}

func TestWatchStaleness(t *testing.T) {
	t.Parallel()
	for _, sweep := range []bool{false, true} {
		t.Run(fmt.Sprint("explicit sweep=", sweep), func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			m.UpdateExtractionStatus("w1", ext(running, nil, 1, 2, 100))
			c.Advance(time.Minute)
			m.UpdateExtractionStatus("w2", ext(running, nil, 1, 2, 100))
			w := m.Watch("")
			defer w.Close()
			next(t, w)
			c.Advance(staleAfter - time.Minute + time.Second) // w1 silent 5m1s, w2 4m1s
			if sweep {
				m.Sweep()
			}
			b := split(t, next(t, w))
			if got := b.changedIDs(); !slices.Equal(got, []string{"w1"}) {
				t.Fatalf("changed = %v, want [w1]", got)
			}
			if h := b.changed["w1"].GetHealth(); h != healthStale {
				t.Errorf("w1 health in change = %v, want STALE", h)
			}
			if len(b.aggregates) != 1 || b.aggregates[0].GetExtractionStatus().GetStaleWorkers() != 1 ||
				b.aggregates[0].GetExtractionStatus().GetActiveWorkers() != 1 {
				t.Errorf("aggregates = %v, want one with 1 stale and 1 active", b.aggregates)
			}
			// And back.
			m.Heartbeat("w1", "")
			b = split(t, next(t, w))
			if h := b.changed["w1"].GetHealth(); h != healthFresh {
				t.Errorf("w1 health after heartbeat = %v, want FRESH", h)
			}
		})
	}
}

// Next blocked waiting is woken by a change, or by a Sweep that finds a
// worker gone stale.
func TestWatchWakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		do   func(m *manager.Manager, c *fakeclock.Clock)
		want []string
	}{
		{"update", func(m *manager.Manager, _ *fakeclock.Clock) { m.Heartbeat("w2", "") }, []string{"w2"}},
		{"sweep", func(m *manager.Manager, c *fakeclock.Clock) { c.Advance(staleAfter + time.Second); m.Sweep() }, []string{"w1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, c := newManager(manager.Options{})
			m.Heartbeat("w1", "")
			w := m.Watch("")
			defer w.Close()
			next(t, w)
			type result struct {
				resps []*musterv1.WatchResponse
				err   error
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				r, err := w.Next(ctx)
				done <- result{r, err}
			}()
			tt.do(m, c)
			res := <-done
			if res.err != nil {
				t.Fatalf("Next: %v", res.err)
			}
			if got := split(t, res.resps).changedIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("changed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchContextEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"cancelled", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), 0) }, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := newManager(manager.Options{})
			m.Heartbeat("w1", "")
			w := m.Watch("")
			defer w.Close()
			next(t, w)
			ctx, cancel := tt.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				out, err := w.Next(ctx)
				if out != nil {
					err = fmt.Errorf("got responses %s with error %v", describe(out), err)
				}
				done <- err
			}()
			cancel()
			if err := <-done; !errors.Is(err, tt.wantErr) {
				t.Errorf("Next = %v, want %v", err, tt.wantErr)
			}
			// The watcher still works afterwards.
			m.Heartbeat("w1", "")
			if got := split(t, next(t, w)).changedIDs(); !slices.Equal(got, []string{"w1"}) {
				t.Errorf("after the cancelled Next: changed = %v, want [w1]", got)
			}
		})
	}
}

func TestWatchFallsBehind(t *testing.T) {
	t.Parallel()
	const feedSize = 8
	tests := []struct {
		name         string
		changes      int
		fleetWide    bool
		wantSnapshot bool
	}{
		{"one change", 1, false, false},
		{"less than FeedSize", feedSize - 1, false, false},
		{"more than FeedSize", feedSize + 1, false, true},
		{"far more than FeedSize", 5*feedSize + 3, false, true},
		{"fleet-wide events, less than FeedSize", feedSize - 1, true, false},
		{"fleet-wide events, more than FeedSize", feedSize + 1, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := newManager(manager.Options{FeedSize: feedSize, FleetEvents: 100})
			m.Heartbeat("w1", "")
			w := m.Watch("w1")
			defer w.Close()
			next(t, w)
			for i := range tt.changes {
				// Each is exactly one change on the feed.
				if tt.fleetWide {
					m.ReportError(&musterv1.ErrorEvent{Message: fmt.Sprint(i)})
				} else {
					m.Heartbeat("w1", fmt.Sprint("t", i))
				}
			}
			resps := next(t, w)
			b := split(t, resps)
			if !tt.wantSnapshot {
				if b.snapshot != nil {
					t.Fatalf("got a snapshot after %d changes, want the changes", tt.changes)
				}
				if tt.fleetWide && len(b.events) != tt.changes {
					t.Errorf("got %d events, want %d", len(b.events), tt.changes)
				}
				if !tt.fleetWide && b.changed["w1"].GetWorkerType() != fmt.Sprint("t", tt.changes-1) {
					t.Errorf("w1 summary = %v, want the latest type", b.changed["w1"])
				}
				return
			}
			if b.snapshot == nil {
				t.Fatalf("got %s after %d changes with FeedSize %d, want a fresh snapshot", describe(resps), tt.changes, feedSize)
			}
			if d := diff(m.Workers(), b.snapshot.GetWorkers()); d != "" {
				t.Errorf("resync snapshot workers mismatch (-Workers() +snapshot):\n%s", d)
			}
			if d := diff(mustWorker(t, m, "w1"), b.snapshot.GetWorker()); d != "" {
				t.Errorf("resync snapshot focus worker mismatch (-Worker() +snapshot):\n%s", d)
			}
			e, _, _ := m.Recent(-1)
			if d := diff(e, b.snapshot.GetRecentErrors()); d != "" {
				t.Errorf("resync snapshot errors mismatch (-Recent +snapshot):\n%s", d)
			}
			// Back to incremental changes afterwards.
			expectNothing(t, w)
			m.Heartbeat("w2", "")
			if b := split(t, next(t, w)); b.snapshot != nil || !slices.Equal(b.changedIDs(), []string{"w2"}) {
				t.Errorf("after resync: %+v, want worker_changed w2", b)
			}
		})
	}
}

func TestWatchAggregateMode(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	w := m.Watch("")
	defer w.Close()
	m.Heartbeat("w1", "") // so the feed is not empty
	if b := split(t, next(t, w)); b.snapshot == nil || !b.snapshot.GetAggregateMode() {
		t.Fatalf("snapshot = %v, want aggregate_mode true", b.snapshot)
	}
	m.SetAggregateMode(true) // no change
	expectNothing(t, w)
	m.SetAggregateMode(false)
	b := split(t, next(t, w))
	if !slices.Equal(b.modes, []bool{false}) || len(b.changed) != 0 || len(b.aggregates) != 0 {
		t.Errorf("after SetAggregateMode(false): modes %v, changed %v, %d aggregates; want [false] only",
			b.modes, b.changedIDs(), len(b.aggregates))
	}
	if m.AggregateMode() {
		t.Error("AggregateMode() = true, want false")
	}
	m.SetAggregateMode(true)
	m.SetAggregateMode(false)
	m.SetAggregateMode(true)
	b = split(t, next(t, w))
	if len(b.modes) != 1 || !b.modes[0] {
		t.Errorf("after three mode changes: modes %v, want [true] (coalesced, latest)", b.modes)
	}
}

func TestWatchers(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	steps := []struct {
		name string
		do   func(ws map[string]*manager.Watcher)
		want int
	}{
		{"none", func(map[string]*manager.Watcher) {}, 0},
		{"open a", func(ws map[string]*manager.Watcher) { ws["a"] = m.Watch("") }, 1},
		{"open b", func(ws map[string]*manager.Watcher) { ws["b"] = m.Watch("w1") }, 2},
		{"open c", func(ws map[string]*manager.Watcher) { ws["c"] = m.Watch("") }, 3},
		{"close a", func(ws map[string]*manager.Watcher) { ws["a"].Close() }, 2},
		{"close a again", func(ws map[string]*manager.Watcher) { ws["a"].Close() }, 2},
		{"close c", func(ws map[string]*manager.Watcher) { ws["c"].Close() }, 1},
		{"close b", func(ws map[string]*manager.Watcher) { ws["b"].Close() }, 0},
		{"close b again", func(ws map[string]*manager.Watcher) { ws["b"].Close() }, 0},
	}
	ws := map[string]*manager.Watcher{}
	for _, s := range steps {
		s.do(ws)
		if got := m.Watchers(); got != s.want {
			t.Errorf("%s: Watchers() = %d, want %d", s.name, got, s.want)
		}
	}
}

// Many watchers read the same changes independently.
func TestWatchIndependentWatchers(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	a, b := m.Watch(""), m.Watch("")
	defer a.Close()
	defer b.Close()
	next(t, a)
	m.Heartbeat("w2", "")
	next(t, b) // b starts here, after w2 appeared
	m.Heartbeat("w3", "")
	if got := split(t, next(t, a)).changedIDs(); !slices.Equal(got, []string{"w2", "w3"}) {
		t.Errorf("watcher a changed = %v, want [w2 w3]", got)
	}
	if got := split(t, next(t, b)).changedIDs(); !slices.Equal(got, []string{"w3"}) {
		t.Errorf("watcher b changed = %v, want [w3]", got)
	}
}

// A dashboard replica built only from the feed stays equal to the manager
// through a long random sequence, falling behind now and then.
func TestWatchReplicaInvariant(t *testing.T) {
	t.Parallel()
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, seed, manager.Options{
				StaleAfter: staleAfter, ForgetAfter: 2 * time.Hour, FeedSize: 16, FleetEvents: 10,
			})
			w := f.m.Watch("w01")
			defer w.Close()
			replica := map[string]*musterv1.WorkerSummary{}
			var agg *musterv1.Aggregate
			var focus *musterv1.WorkerStatus
			var mode bool
			snapshots := 0
			for i := range steps {
				f.step()
				if f.rng.IntN(6) != 0 {
					continue // let changes pile up, past FeedSize now and then
				}
				// Make sure something is pending, then read it all.
				f.m.Heartbeat("zz-sentinel", "")
				f.touch("zz-sentinel")
				resps := next(t, w)
				for _, r := range resps {
					switch e := r.GetEvent().(type) {
					case *musterv1.WatchResponse_Snapshot:
						snapshots++
						clear(replica)
						for _, s := range e.Snapshot.GetWorkers() {
							replica[s.GetWorkerId()] = s
						}
						agg, focus, mode = e.Snapshot.GetAggregate(), e.Snapshot.GetWorker(), e.Snapshot.GetAggregateMode()
					case *musterv1.WatchResponse_WorkerChanged:
						replica[e.WorkerChanged.GetWorkerId()] = e.WorkerChanged
					case *musterv1.WatchResponse_WorkerRemoved:
						delete(replica, e.WorkerRemoved)
						if e.WorkerRemoved == "w01" {
							focus = nil
						}
					case *musterv1.WatchResponse_Aggregate:
						agg = e.Aggregate
					case *musterv1.WatchResponse_Worker:
						focus = e.Worker
					case *musterv1.WatchResponse_AggregateMode:
						mode = e.AggregateMode
					}
				}
				got := make([]*musterv1.WorkerSummary, 0, len(replica))
				for _, id := range sortedKeys(replica) {
					got = append(got, replica[id])
				}
				if want := f.m.Workers(); !sameMessages(want, got) {
					f.fatalf("step %d: replica workers mismatch (-Workers() +replica):\n%s", i, diff(want, got))
				}
				if want := f.m.Aggregate(); !sameAggregate(want, agg) {
					f.fatalf("step %d: replica aggregate mismatch (-Aggregate() +replica):\n%s", i, diff(want, agg))
				}
				if cur, err := f.m.Worker("w01"); err == nil {
					if !proto.Equal(cur, focus) {
						f.fatalf("step %d: replica focus worker mismatch (-Worker() +replica):\n%s", i, diff(cur, focus))
					}
				} else if focus != nil {
					f.fatalf("step %d: replica keeps focus worker w01, which is gone", i)
				}
				if mode != f.m.AggregateMode() {
					f.fatalf("step %d: replica aggregate_mode = %v, want %v", i, mode, f.m.AggregateMode())
				}
			}
			if snapshots < 2 {
				t.Errorf("only %d snapshots: the sequence never fell behind the feed", snapshots)
			}
		})
	}
}

// Close ends every watch: a waiting Next and every later Next return
// ErrClosed, while updates are still accepted.
func TestManagerCloseEndsWatches(t *testing.T) {
	t.Parallel()
	m, _ := newManager(manager.Options{})
	m.Heartbeat("w1", "")
	waiting, fresh := m.Watch(""), m.Watch("")
	defer waiting.Close()
	defer fresh.Close()
	next(t, waiting)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := waiting.Next(ctx)
		done <- err
	}()
	m.Close()
	if err := <-done; !errors.Is(err, manager.ErrClosed) {
		t.Errorf("waiting Next after Close = %v, want ErrClosed", err)
	}
	m.Heartbeat("w2", "")
	if _, err := waiting.Next(context.Background()); !errors.Is(err, manager.ErrClosed) {
		t.Errorf("Next after Close with a change pending = %v, want ErrClosed", err)
	}
	if _, err := fresh.Next(context.Background()); !errors.Is(err, manager.ErrClosed) {
		t.Errorf("first Next after Close = %v, want ErrClosed", err)
	}
	if got := ids(m.Workers()); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Errorf("Workers() after Close = %v, want [w1 w2] (updates still accepted)", got)
	}
	m.Close() // idempotent
}
