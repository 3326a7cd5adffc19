package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func running(processed, total int64, rate float64) *musterv1.ExtractionStatus {
	return &musterv1.ExtractionStatus{
		Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, ParishesProcessed: processed, TotalParishes: total, SuccessRate: rate,
	}
}

func TestReportStreamAppliesGoodUpdatesAndCountsBadOnes(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	ctx := context.Background()
	stream, err := s.Client.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	updates := []*musterv1.ReportRequest{
		{WorkerId: "w1", Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: running(100, 300, 90)}},
		{WorkerId: "w2", Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: running(50, 200, 80)}},
		{WorkerId: "w1", Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{WorkerType: "discovery"}}},
		{WorkerId: "bad id", Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{}}},
		{WorkerId: "w3", Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: running(1, 1, 101)}},
		{WorkerId: "w1", Update: &musterv1.ReportRequest_Log{Log: &musterv1.LogEntry{Message: "hello", Level: "INFO"}}},
	}
	for _, u := range updates {
		if err := stream.Send(u); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != 4 || resp.GetRejected() != 2 || !strings.Contains(resp.GetLastError(), "success_rate") {
		t.Errorf("response = %v, want 4 accepted, 2 rejected, last error naming success_rate", resp)
	}
	agg, err := s.Client.GetAggregate(ctx, &musterv1.GetAggregateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ext := agg.GetAggregate().GetExtractionStatus()
	if ext.GetParishesProcessed() != 150 || ext.GetSuccessRate() != 86.7 || ext.GetTotalWorkers() != 2 {
		t.Errorf("aggregate = %v, want 150 processed at 86.7 over 2 workers (w3 rejected)", ext)
	}
	w1, err := s.Client.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if w1.GetWorker().GetWorkerType() != "discovery" || len(w1.GetWorker().GetRecentLogs()) != 1 || w1.GetWorker().GetRecentLogs()[0].GetWorkerId() != "w1" {
		t.Errorf("w1 = %v, want type discovery and its log line", w1.GetWorker())
	}
}

func TestInvalidUpdatesNameTheFieldAndChangeNothing(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	ctx := context.Background()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"worker id charset", func() error {
			_, err := s.Client.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: "a/b"})
			return err
		}, "worker_id"},
		{"worker id length", func() error {
			_, err := s.Client.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: strings.Repeat("a", 254)})
			return err
		}, "worker_id"},
		{"negative count", func() error {
			_, err := s.Client.UpdateExtractionStatus(ctx, &musterv1.UpdateExtractionStatusRequest{WorkerId: "w", Status: running(-1, 10, 0)})
			return err
		}, "status.parishes_processed"},
		{"one bad breaker among good ones", func() error {
			_, err := s.Client.UpdateCircuitBreakers(ctx, &musterv1.UpdateCircuitBreakersRequest{WorkerId: "w", CircuitBreakers: map[string]*musterv1.CircuitBreaker{
				"good": {TotalRequests: 1}, "bad": {TotalRequests: 1, SuccessRate: -3},
			}})
			return err
		}, "circuit_breakers.bad.success_rate"},
		{"event for a bad worker id", func() error {
			_, err := s.Client.ReportError(ctx, &musterv1.ReportErrorRequest{Error: &musterv1.ErrorEvent{WorkerId: "no spaces", Message: "x"}})
			return err
		}, "error.worker_id"},
		{"mode", func() error {
			_, err := s.Client.SetMode(ctx, &musterv1.SetModeRequest{Mode: "sideways"})
			return err
		}, "mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v, want InvalidArgument (%v)", st.Code(), err)
			}
			var field string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					field = br.GetFieldViolations()[0].GetField()
				}
			}
			if field != tt.field {
				t.Errorf("field = %q, want %q", field, tt.field)
			}
		})
	}
	list, err := s.Client.ListWorkers(ctx, &musterv1.ListWorkersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetWorkers()) != 0 || len(s.Status(t).GetRecentErrors()) != 0 {
		t.Errorf("rejected requests changed state: %v", list.GetWorkers())
	}
	if _, err := s.Client.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: "w"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetWorker of unknown = %v, want NotFound", err)
	}
}

func TestWatchSendsSnapshotThenChanges(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client.UpdateExtractionStatus(ctx, &musterv1.UpdateExtractionStatusRequest{WorkerId: "w1", Status: running(1, 10, 100)}); err != nil {
		t.Fatal(err)
	}
	watch, err := s.Client.Watch(ctx, &musterv1.WatchRequest{WorkerId: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	snap := first.GetSnapshot()
	if len(snap.GetWorkers()) != 1 || snap.GetWorker().GetWorkerId() != "w1" || snap.GetAggregate().GetExtractionStatus().GetParishesProcessed() != 1 {
		t.Fatalf("first message = %v, want a snapshot with w1", first)
	}
	if got := s.Status(t).GetWebsocketConnections(); got != 1 {
		t.Errorf("websocket_connections = %d, want 1 open watch", got)
	}
	if _, err := s.Client.UpdateExtractionStatus(ctx, &musterv1.UpdateExtractionStatusRequest{WorkerId: "w1", Status: running(7, 10, 100)}); err != nil {
		t.Fatal(err)
	}
	var sawSummary, sawAggregate, sawWorker bool
	for !(sawSummary && sawAggregate && sawWorker) {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case msg.GetWorkerChanged().GetParishesProcessed() == 7:
			sawSummary = true
		case msg.GetAggregate().GetExtractionStatus().GetParishesProcessed() == 7:
			sawAggregate = true
		case msg.GetWorker().GetExtractionStatus().GetParishesProcessed() == 7:
			sawWorker = true
		}
	}
}

// TestRESTWatchStreamsJSONLines reads the watch through the gateway, as the
// dashboard does: one JSON object per line, each {"result": ...}.
func TestRESTWatchStreamsJSONLines(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTPURL+"/api/monitoring/watch", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	next := func() map[string]map[string]any {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended: %v", lines.Err())
		}
		var msg map[string]map[string]any
		if err := json.Unmarshal(lines.Bytes(), &msg); err != nil {
			t.Fatalf("line %q: %v", lines.Text(), err)
		}
		return msg
	}
	if _, ok := next()["result"]["snapshot"]; !ok {
		t.Fatal("first line is not a snapshot")
	}
	body := strings.NewReader(`{"status":"running","parishes_processed":3,"total_parishes":4,"success_rate":"75%"}`)
	post, err := http.Post(s.HTTPURL+"/api/monitoring/worker/pod-1/extraction_status", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	for {
		if changed, ok := next()["result"]["worker_changed"].(map[string]any); ok {
			if changed["worker_id"] != "pod-1" || changed["parishes_processed"] != float64(3) || changed["status"] != "running" {
				t.Errorf("worker_changed = %v", changed)
			}
			return
		}
	}
}

// TestShutdownEndsOpenWatches: watches never end on their own, so shutdown
// must end them rather than wait out its deadline.
func TestShutdownEndsOpenWatches(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{ShutdownTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := s.Client.Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTPURL+"/api/monitoring/watch", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // deadlock guard, far below the minute-long deadline
		t.Fatal("shutdown waited on open watches")
	}
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("watch after shutdown: %v, want Unavailable", err)
	}
}

func TestFullServerRefusesNewWorkersWith429(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{MaxWorkers: 1})
	if code, _ := s.Post(t, "/api/monitoring/worker/w1/extraction_status", `{"status":"running"}`); code != 200 {
		t.Fatalf("first worker: HTTP %d", code)
	}
	code, body := s.Post(t, "/api/monitoring/worker/w2/extraction_status", `{"status":"running"}`)
	if code != http.StatusTooManyRequests || body["status"] != "RESOURCE_EXHAUSTED" {
		t.Errorf("second worker: HTTP %d %v, want 429 RESOURCE_EXHAUSTED", code, body)
	}
	if code, _ := s.Post(t, "/api/monitoring/worker/w1/extraction_status", `{"status":"running"}`); code != 200 {
		t.Errorf("known worker while full: HTTP %d", code)
	}
}
