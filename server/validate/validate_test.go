package validate_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/validate"
)

func TestRules(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	running := musterv1.ExtractionState_EXTRACTION_STATE_RUNNING
	tests := []struct {
		name  string
		err   error
		field string // empty: valid
	}{
		{"pod name", validate.WorkerID("id", "worker-pod-7f9c2.ns:1_a"), ""},
		{"253 characters", validate.WorkerID("id", long(253)), ""},
		{"254 characters", validate.WorkerID("id", long(254)), "id"},
		{"empty id", validate.WorkerID("id", ""), "id"},
		{"space", validate.WorkerID("id", "bad id"), "id"},
		{"slash", validate.WorkerID("id", "a/b"), "id"},
		{"non-ASCII", validate.WorkerID("id", "ü"), "id"},
		{"optional empty id", validate.OptionalWorkerID("id", ""), ""},
		{"optional bad id", validate.OptionalWorkerID("id", "a b"), "id"},

		{"good status", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{Status: running, ParishesProcessed: 1 << 53, SuccessRate: 100, ProgressPercentage: 0}), ""},
		{"unknown enum", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{Status: 42}), "s.status"},
		{"negative count", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{TotalParishes: -1}), "s.total_parishes"},
		{"count over 2^53", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{ParishesProcessed: 1<<53 + 1}), "s.parishes_processed"},
		{"rate over 100", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{SuccessRate: 100.01}), "s.success_rate"},
		{"NaN progress", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{ProgressPercentage: math.NaN()}), "s.progress_percentage"},
		{"diocese 512 bytes", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{CurrentDiocese: ptr(long(512))}), ""},
		{"diocese 513 bytes", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{CurrentDiocese: ptr(long(513))}), "s.current_diocese"},
		{"invalid UTF-8", validate.ExtractionStatus("s", &musterv1.ExtractionStatus{CurrentDiocese: ptr("\xff")}), "s.current_diocese"},

		{"256 breakers", validate.CircuitBreakers("b", breakers(256)), ""},
		{"257 breakers", validate.CircuitBreakers("b", breakers(257)), "b"},
		{"breaker name 257 bytes", validate.CircuitBreakers("b", map[string]*musterv1.CircuitBreaker{long(257): {}}), "b." + long(257)},
		{"empty breaker name", validate.CircuitBreakers("b", map[string]*musterv1.CircuitBreaker{"": {}}), "b"},
		{"negative blocked", validate.CircuitBreakers("b", map[string]*musterv1.CircuitBreaker{"x": {TotalBlocked: -1}}), "b.x.total_blocked"},
		{"infinite rate", validate.CircuitBreakers("b", map[string]*musterv1.CircuitBreaker{"x": {SuccessRate: math.Inf(1)}}), "b.x.success_rate"},

		{"good performance", validate.Performance("p", &musterv1.PerformanceMetrics{ParishesPerMinute: 1e6, PoolUtilization: 87}), ""},
		{"negative throughput", validate.Performance("p", &musterv1.PerformanceMetrics{ParishesPerMinute: -1}), "p.parishes_per_minute"},
		{"utilization over 100", validate.Performance("p", &musterv1.PerformanceMetrics{PoolUtilization: 101}), "p.pool_utilization"},

		{"message 8 KiB", validate.ErrorEvent("e", &musterv1.ErrorEvent{Message: long(8 << 10)}), ""},
		{"message over 8 KiB", validate.LogEntry("l", &musterv1.LogEntry{Message: long(8<<10 + 1)}), "l.message"},
		{"event worker id", validate.ErrorEvent("e", &musterv1.ErrorEvent{WorkerId: "no spaces"}), "e.worker_id"},
		{"too many attributes", validate.CompletedExtraction("c", &musterv1.CompletedExtraction{Attributes: attrs(33)}), "c.attributes"},
		{"negative duration", validate.CompletedExtraction("c", &musterv1.CompletedExtraction{Duration: -1}), "c.duration"},
		{"negative schedules", validate.CompletedExtraction("c", &musterv1.CompletedExtraction{SchedulesFound: ptr(int64(-1))}), "c.schedules_found"},
		{"worker type 257 bytes", validate.WorkerType("t", long(257)), "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var verr *validate.Error
			switch {
			case tt.field == "" && tt.err != nil:
				t.Errorf("want valid, got %v", tt.err)
			case tt.field != "" && !errors.As(tt.err, &verr):
				t.Errorf("want an error on %s, got %v", tt.field, tt.err)
			case tt.field != "" && verr.Field != tt.field:
				t.Errorf("field = %q, want %q (%v)", verr.Field, tt.field, verr)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func breakers(n int) map[string]*musterv1.CircuitBreaker {
	m := make(map[string]*musterv1.CircuitBreaker, n)
	for i := range n {
		m[fmt.Sprintf("b%d", i)] = &musterv1.CircuitBreaker{}
	}
	return m
}

func attrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

// BenchmarkValidUpdate is the hot path: a valid update builds no strings.
func BenchmarkValidUpdate(b *testing.B) {
	st := &musterv1.ExtractionStatus{Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, ParishesProcessed: 5, TotalParishes: 9, SuccessRate: 80}
	breakers := map[string]*musterv1.CircuitBreaker{"webdriver": {State: musterv1.BreakerState_BREAKER_STATE_OPEN, TotalRequests: 9}}
	b.ReportAllocs()
	for b.Loop() {
		if validate.ExtractionStatus("status", st) != nil || validate.CircuitBreakers("circuit_breakers", breakers) != nil {
			b.Fatal("invalid")
		}
	}
}
