package gateway

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/loadtest"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Benchmarks of the legacy JSON codec on the hot paths: the bodies the
// deployed scripts post, and the documents the dashboard reads. Run them with
//
//	go test -run '^$' -bench . -benchmem ./gateway

var (
	benchStatusBody = []byte(`{"status": "running", "current_diocese": "Archdiocese of Atlanta", "parishes_processed": 120, ` +
		`"total_parishes": 300, "success_rate": 95.5, "progress_percentage": 40.0, "started_at": "2026-01-05T10:00:00.000001+00:00", ` +
		`"estimated_completion": null}`)
	benchBreakersBody = []byte(`{"diocese_api": {"state": "closed", "total_requests": 120, "total_successes": 119, "total_failures": 1, ` +
		`"total_blocked": 0, "success_rate": "99.2%"}, "parish_site": {"state": "half_open", "total_requests": 80, ` +
		`"total_failures": 20, "total_blocked": 3, "success_rate": 75.0}}`)
	benchLogBody = []byte(`{"message": "extracted parish 12 of Archdiocese of Atlanta: 6 mass times", "level": "INFO", ` +
		`"module": "extractor.parish", "worker_id": "worker-pod-7f9c2", "worker_type": "extractor", "timestamp": "2026-01-05T10:00:00"}`)
)

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
		into func() any
	}{
		{"extraction_status", benchStatusBody, func() any { var m *musterv1.ExtractionStatus; return &m }},
		{"circuit_breakers", benchBreakersBody, func() any { var m map[string]*musterv1.CircuitBreaker; return &m }},
		{"log", benchLogBody, func() any { var m *musterv1.LogEntry; return &m }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if err := decodeBody(bc.body, bc.into()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchAggregate() *musterv1.GetStatusResponse {
	d := "Archdiocese of Atlanta, Diocese of Savannah"
	at := timestamppb.New(time.Date(2026, 1, 5, 10, 0, 0, 1000, time.UTC))
	resp := &musterv1.GetStatusResponse{
		SystemHealth: &musterv1.SystemHealth{Status: "healthy", CpuUsage: 12.5, MemoryUsage: 40.1, Uptime: 3600, Timestamp: at},
		ExtractionStatus: &musterv1.ExtractionAggregate{Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, ActiveWorkers: 900,
			TotalWorkers: 1000, StaleWorkers: 3, ParishesProcessed: 120000, TotalParishes: 300000, SuccessRate: 95.1,
			ProgressPercentage: 40, CurrentDiocese: &d, StartedAt: at},
		CircuitBreakers: map[string]*musterv1.BreakerAggregate{
			"diocese_api": {State: musterv1.BreakerState_BREAKER_STATE_CLOSED, TotalRequests: 120000, TotalSuccesses: 119000, WorkersClosed: 1000},
			"parish_site": {State: musterv1.BreakerState_BREAKER_STATE_HALF_OPEN, TotalRequests: 80000, TotalSuccesses: 60000, WorkersHalfOpen: 3, WorkersClosed: 997},
		},
		PerformanceMetrics: &musterv1.PerformanceAggregate{ParishesPerMinute: 3000, QueueSize: 10000, PoolUtilization: 0.5, ReportingWorkers: 1000},
	}
	for i := range 10 {
		resp.RecentErrors = append(resp.RecentErrors, &musterv1.ErrorEvent{WorkerId: fmt.Sprintf("worker-%d", i), Type: "Timeout",
			Message: "timeout after 30s fetching https://example.org/parishes/12/mass-times", Severity: "error", Timestamp: at})
		resp.ExtractionHistory = append(resp.ExtractionHistory, &musterv1.CompletedExtraction{WorkerId: fmt.Sprintf("worker-%d", i),
			DioceseName: "Archdiocese of Atlanta", ParishesExtracted: 120, SuccessRate: 95, Duration: 600, Status: "completed", Timestamp: at})
	}
	return resp
}

func BenchmarkEncode(b *testing.B) {
	summary := &musterv1.WorkerSummary{WorkerId: "worker-pod-7f9c2", Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
		ParishesProcessed: 120, TotalParishes: 300, SuccessRate: 95.5, LastUpdated: timestamppb.Now(), WorkerType: "extractor"}
	for _, bc := range []struct {
		name string
		v    any
	}{
		{"write_ack", ack{&musterv1.UpdateExtractionStatusResponse{}}},
		{"worker_changed", &musterv1.WatchResponse{Event: &musterv1.WatchResponse_WorkerChanged{WorkerChanged: summary}}},
		{"status_document", benchAggregate()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (codec{}).Marshal(bc.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeBaseline is the floor BenchmarkDecode/extraction_status is
// compared with: encoding/json into a plain struct of the same shape.
func BenchmarkDecodeBaseline(b *testing.B) {
	var st loadtest.LegacyStatus
	b.ReportAllocs()
	b.SetBytes(int64(len(benchStatusBody)))
	for b.Loop() {
		if err := json.Unmarshal(benchStatusBody, &st); err != nil {
			b.Fatal(err)
		}
	}
}
