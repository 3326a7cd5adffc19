package manager

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The benchmarks run each hot path against fleets of 10 to 100,000 workers,
// visiting the workers in a scattered order as real traffic does: the cost
// per operation should be the same at every size. Run them with
//
//	go test -run '^$' -bench . -benchmem ./server/manager

var fleetSizes = []int{10, 1_000, 10_000, 100_000}

var benchDioceses = []string{"Archdiocese of Atlanta", "Diocese of Savannah", "Archdiocese of Boston", "Diocese of Charleston"}

func benchStatus(i int, processed int64) *musterv1.ExtractionStatus {
	d := benchDioceses[i%len(benchDioceses)]
	return &musterv1.ExtractionStatus{
		Status:            musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
		CurrentDiocese:    &d,
		ParishesProcessed: processed,
		TotalParishes:     1 << 30,
		SuccessRate:       float64(90 + i%10),
		StartedAt:         timestamppb.New(time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)),
	}
}

func benchBreakers(processed int64) map[string]*musterv1.CircuitBreaker {
	return map[string]*musterv1.CircuitBreaker{
		"diocese_api": {State: musterv1.BreakerState_BREAKER_STATE_CLOSED, TotalRequests: processed + 10, TotalSuccesses: processed + 9, TotalFailures: 1, SuccessRate: 90},
		"parish_site": {State: musterv1.BreakerState_BREAKER_STATE_HALF_OPEN, TotalRequests: processed + 20, TotalSuccesses: processed + 10, TotalFailures: 10},
	}
}

// benchFleet returns a manager with n running workers, each with
// breakers and performance metrics, and their ids.
func benchFleet(b *testing.B, n int) (*Manager, []string) {
	b.Helper()
	m := New(Options{MaxWorkers: n + 1})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("worker-%06d", i)
		if err := m.UpdateExtractionStatus(ids[i], benchStatus(i, 1)); err != nil {
			b.Fatal(err)
		}
		if err := m.UpdateCircuitBreakers(ids[i], benchBreakers(1)); err != nil {
			b.Fatal(err)
		}
		if err := m.UpdatePerformance(ids[i], &musterv1.PerformanceMetrics{ParishesPerMinute: 3, QueueSize: 10, PoolUtilization: 0.5}); err != nil {
			b.Fatal(err)
		}
	}
	m.Aggregate()
	return m, ids
}

// scatter visits every index of n once per n steps, in an order that
// jumps around the fleet.
func scatter(i, n int) int { return int((uint64(i) * 2654435761) % uint64(n)) }

func forEachSize(b *testing.B, f func(b *testing.B, m *Manager, ids []string)) {
	for _, n := range fleetSizes {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			m, ids := benchFleet(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			f(b, m, ids)
		})
	}
}

func BenchmarkUpdateExtractionStatus(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, ids []string) {
		// Messages are built outside the timer: the manager keeps them.
		const batch = 4096
		msgs := make([]*musterv1.ExtractionStatus, batch)
		for i := 0; i < b.N; i++ {
			if i%batch == 0 {
				b.StopTimer()
				for k := range msgs {
					msgs[k] = benchStatus(scatter(i+k, len(ids)), int64(i+k))
				}
				b.StartTimer()
			}
			if err := m.UpdateExtractionStatus(ids[scatter(i, len(ids))], msgs[i%batch]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkUpdateExtractionStatusSequential visits the workers in the
// order they were created. Against BenchmarkUpdateExtractionStatus it shows
// how much of the cost at large fleet sizes is memory locality rather than
// work: the operation does the same work either way.
func BenchmarkUpdateExtractionStatusSequential(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, ids []string) {
		const batch = 4096
		msgs := make([]*musterv1.ExtractionStatus, batch)
		for i := 0; i < b.N; i++ {
			if i%batch == 0 {
				b.StopTimer()
				for k := range msgs {
					msgs[k] = benchStatus((i+k)%len(ids), int64(i+k))
				}
				b.StartTimer()
			}
			if err := m.UpdateExtractionStatus(ids[i%len(ids)], msgs[i%batch]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUpdateCircuitBreakers(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, ids []string) {
		const batch = 4096
		msgs := make([]map[string]*musterv1.CircuitBreaker, batch)
		for i := 0; i < b.N; i++ {
			if i%batch == 0 {
				b.StopTimer()
				for k := range msgs {
					msgs[k] = benchBreakers(int64(i + k))
				}
				b.StartTimer()
			}
			if err := m.UpdateCircuitBreakers(ids[scatter(i, len(ids))], msgs[i%batch]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHeartbeat(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, ids []string) {
		for i := 0; i < b.N; i++ {
			if err := m.Heartbeat(ids[scatter(i, len(ids))], "extractor"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAggregate reads the aggregate after something changed (the
// cached copy is dropped each time), so it measures building it.
func BenchmarkAggregate(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, _ []string) {
		for i := 0; i < b.N; i++ {
			m.mu.Lock()
			m.agg.cached = nil
			m.mu.Unlock()
			if m.Aggregate() == nil {
				b.Fatal("no aggregate")
			}
		}
	})
}

// BenchmarkAggregateCached reads the aggregate when nothing changed.
func BenchmarkAggregateCached(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, _ []string) {
		for i := 0; i < b.N; i++ {
			m.Aggregate()
		}
	})
}

// BenchmarkStatusRead is what GetStatus (the legacy status document) asks
// of the manager, with the aggregate rebuilt each time.
func BenchmarkStatusRead(b *testing.B) {
	forEachSize(b, func(b *testing.B, m *Manager, ids []string) {
		for k := range 20 {
			e := &musterv1.ErrorEvent{WorkerId: ids[k%len(ids)], Type: "Timeout", Message: "timeout"}
			if err := m.ReportError(e); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < b.N; i++ {
			m.mu.Lock()
			m.agg.cached = nil
			m.mu.Unlock()
			agg := m.Aggregate()
			errs, _, completions := m.Recent(10)
			_ = m.Watchers()
			if agg == nil || len(errs) != 10 || len(completions) != 0 {
				b.Fatal("short status")
			}
		}
	})
}

// BenchmarkMemory reports the heap each worker costs: heartbeat-only
// workers, and workers whose event buffers are full (50 errors, 100 log
// lines, 50 completions each).
func BenchmarkMemory(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "heartbeat-only"
		if full {
			name = "full-buffers"
		}
		b.Run(name, func(b *testing.B) {
			// The fleet is built once per run, whatever b.N is.
			const n = 10_000
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m := New(Options{})
			for i := range n {
				id := fmt.Sprintf("worker-%06d", i)
				if err := m.Heartbeat(id, "extractor"); err != nil {
					b.Fatal(err)
				}
				if !full {
					continue
				}
				if err := m.UpdateExtractionStatus(id, benchStatus(i, 1)); err != nil {
					b.Fatal(err)
				}
				if err := m.UpdateCircuitBreakers(id, benchBreakers(1)); err != nil {
					b.Fatal(err)
				}
				fillEvents(b, m, id)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			runtime.KeepAlive(m)
			for b.Loop() {
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/worker")
		})
	}
}

func fillEvents(b *testing.B, m *Manager, id string) {
	d := "Archdiocese of Atlanta"
	for k := range m.opts.ErrorsPerWorker {
		if err := m.ReportError(&musterv1.ErrorEvent{WorkerId: id, Type: "ExtractionError", Severity: "error", Diocese: &d,
			Message: fmt.Sprintf("timeout after 30s fetching https://example.org/parishes/%d/mass-times (attempt %d)", k, k%3+1)}); err != nil {
			b.Fatal(err)
		}
	}
	for k := range m.opts.LogsPerWorker {
		if err := m.ReportLog(&musterv1.LogEntry{WorkerId: id, Level: "INFO", Module: "extractor.parish", WorkerType: "extractor",
			Message: fmt.Sprintf("extracted parish %d of %s: 6 mass times, 2 confession times", k, d)}); err != nil {
			b.Fatal(err)
		}
	}
	for k := range m.opts.CompletionsPerWorker {
		name, url := fmt.Sprintf("St. Mary Parish %d", k), fmt.Sprintf("https://example.org/parishes/%d", k)
		if err := m.ReportCompletion(&musterv1.CompletedExtraction{WorkerId: id, DioceseName: d, ParishesExtracted: int64(k),
			SuccessRate: 95.5, Duration: 12.5, Status: "completed", ParishName: &name, ParishUrl: &url}); err != nil {
			b.Fatal(err)
		}
	}
}
