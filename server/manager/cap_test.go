package manager_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/manager"
)

func TestWorkerCap(t *testing.T) {
	t.Parallel()
	m, c := newManager(manager.Options{MaxWorkers: 3})
	for _, id := range []string{"a", "b", "c"} {
		if err := m.Heartbeat(id, ""); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	// Full of fresh workers: a new one is refused, and nothing changes.
	if err := m.UpdateExtractionStatus("d", ext(running, nil, 1, 2, 50)); !errors.Is(err, manager.ErrFull) {
		t.Fatalf("new worker while full = %v, want ErrFull", err)
	}
	if err := m.ReportLog(&musterv1.LogEntry{WorkerId: "d", Message: "x"}); !errors.Is(err, manager.ErrFull) {
		t.Fatalf("event for a new worker while full = %v, want ErrFull", err)
	}
	if _, logs, _ := m.Recent(-1); len(logs) != 0 {
		t.Errorf("refused log line was kept: %v", logs)
	}
	// Known workers and fleet-wide events still go through.
	if err := m.Heartbeat("a", ""); err != nil {
		t.Errorf("known worker while full: %v", err)
	}
	if err := m.ReportLog(&musterv1.LogEntry{Message: "fleet"}); err != nil {
		t.Errorf("fleet-wide event while full: %v", err)
	}
	// Once b and c are stale, the longest-silent one (b) makes room.
	c.Advance(staleAfter)
	if err := m.Heartbeat("a", ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Heartbeat("d", ""); err != nil {
		t.Fatalf("new worker with stale ones to forget: %v", err)
	}
	var ids []string
	for _, w := range m.Workers() {
		ids = append(ids, w.GetWorkerId())
	}
	if want := []string{"a", "c", "d"}; !slices.Equal(ids, want) {
		t.Errorf("workers = %v, want %v (b, the longest silent, forgotten)", ids, want)
	}
	if got := m.Aggregate().GetExtractionStatus().GetTotalWorkers(); got != 3 {
		t.Errorf("total_workers = %d, want 3", got)
	}
}
