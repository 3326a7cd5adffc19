package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/fakeclock"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// guard bounds waits that only a deadlock would exceed.
const guard = 10 * time.Second

var discard = slog.New(slog.DiscardHandler)

// startServer runs a real Muster server with its gRPC API on grpcAddr
// ("127.0.0.1:0" for any port) until the test ends or Stop is called.
func startServer(t *testing.T, grpcAddr string) *testserver.Server {
	t.Helper()
	return testserver.Start(t, server.Config{GRPCAddr: grpcAddr, ShutdownTimeout: time.Second})
}

// readWorker reads a worker back from the server.
func readWorker(t *testing.T, s *testserver.Server, id string) *musterv1.WorkerStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	resp, err := s.Client.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: id})
	if err != nil {
		t.Fatalf("GetWorker(%q): %v", id, err)
	}
	return resp.GetWorker()
}

// newClient returns a quiet client without heartbeats, closed when the
// test ends; opts come last so they win.
func newClient(t *testing.T, addr string, opts ...Option) *Client {
	t.Helper()
	c, err := New(addr, append([]Option{WithLogger(discard), WithHeartbeatInterval(0)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		// Tests flush what they check; a short bound keeps clients of a
		// dead server from slowing the suite down.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c.Shutdown(ctx)
	})
	return c
}

func flush(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*guard)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (stats %+v)", err, c.Stats())
	}
}

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// waitFor polls cond until it holds, failing the test after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ignoreTimes drops the server-set times from comparisons.
var ignoreTimes = cmp.Options{
	protocmp.Transform(),
	protocmp.IgnoreFields(&musterv1.WorkerStatus{}, "last_updated", "health"),
	protocmp.IgnoreFields(&musterv1.ErrorEvent{}, "timestamp"),
	protocmp.IgnoreFields(&musterv1.LogEntry{}, "timestamp"),
	protocmp.IgnoreFields(&musterv1.CompletedExtraction{}, "timestamp"),
}

func TestUpdatesArriveAfterFlush(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1:0")
	running := musterv1.ExtractionState_EXTRACTION_STATE_RUNNING

	tests := []struct {
		name string
		send func(*Client)
		want *musterv1.WorkerStatus // worker_id is filled in
	}{
		{
			name: "extraction status",
			send: func(c *Client) {
				c.UpdateExtractionStatus(&musterv1.ExtractionStatus{Status: running, CurrentDiocese: proto.String("A"), ParishesProcessed: 1})
				c.UpdateExtractionStatus(&musterv1.ExtractionStatus{Status: running, CurrentDiocese: proto.String("A"), ParishesProcessed: 2, TotalParishes: 10})
			},
			want: &musterv1.WorkerStatus{ExtractionStatus: &musterv1.ExtractionStatus{
				Status: running, CurrentDiocese: proto.String("A"), ParishesProcessed: 2, TotalParishes: 10,
			}},
		},
		{
			name: "updates are copied when made",
			send: func(c *Client) {
				st := &musterv1.ExtractionStatus{Status: running, ParishesProcessed: 5}
				c.UpdateExtractionStatus(st)
				st.ParishesProcessed = 99
				b := &musterv1.CircuitBreaker{TotalRequests: 1}
				c.UpdateCircuitBreakers(map[string]*musterv1.CircuitBreaker{"page": b, "nil": nil})
				b.TotalRequests = 99
			},
			want: &musterv1.WorkerStatus{
				ExtractionStatus: &musterv1.ExtractionStatus{Status: running, ParishesProcessed: 5},
				CircuitBreakers: map[string]*musterv1.CircuitBreaker{
					"page": {State: musterv1.BreakerState_BREAKER_STATE_CLOSED, TotalRequests: 1},
				},
			},
		},
		{
			name: "circuit breakers merge by name",
			send: func(c *Client) {
				c.UpdateCircuitBreakers(map[string]*musterv1.CircuitBreaker{
					"page":   {State: musterv1.BreakerState_BREAKER_STATE_OPEN, TotalRequests: 10, TotalSuccesses: 4, SuccessRate: 40},
					"detail": {TotalRequests: 1},
				})
				c.UpdateCircuitBreakers(map[string]*musterv1.CircuitBreaker{"detail": {TotalRequests: 2, TotalSuccesses: 2, SuccessRate: 100}})
			},
			want: &musterv1.WorkerStatus{CircuitBreakers: map[string]*musterv1.CircuitBreaker{
				"page":   {State: musterv1.BreakerState_BREAKER_STATE_OPEN, TotalRequests: 10, TotalSuccesses: 4, SuccessRate: 40},
				"detail": {State: musterv1.BreakerState_BREAKER_STATE_CLOSED, TotalRequests: 2, TotalSuccesses: 2, SuccessRate: 100},
			}},
		},
		{
			name: "performance",
			send: func(c *Client) {
				c.UpdatePerformance(&musterv1.PerformanceMetrics{ParishesPerMinute: 12.5, QueueSize: 3, PoolUtilization: 40})
			},
			want: &musterv1.WorkerStatus{PerformanceMetrics: &musterv1.PerformanceMetrics{ParishesPerMinute: 12.5, QueueSize: 3, PoolUtilization: 40}},
		},
		{
			name: "events, newest first",
			send: func(c *Client) {
				c.ReportError(&musterv1.ErrorEvent{Type: "Timeout", Message: "slow", Diocese: proto.String("A"), Severity: "warning"})
				c.Log("INFO", "extraction", "one")
				c.Log("DEBUG", "http", "two")
				c.ReportCompletion(&musterv1.CompletedExtraction{DioceseName: "A", ParishesExtracted: 3, SuccessRate: 100, Duration: 1.5, Status: "completed"})
			},
			want: &musterv1.WorkerStatus{
				WorkerType: "extraction",
				RecentErrors: []*musterv1.ErrorEvent{
					{Type: "Timeout", Message: "slow", Diocese: proto.String("A"), Severity: "warning"},
				},
				RecentLogs: []*musterv1.LogEntry{
					{Level: "DEBUG", Module: "http", Message: "two", WorkerType: "extraction"},
					{Level: "INFO", Module: "extraction", Message: "one", WorkerType: "extraction"},
				},
				ExtractionHistory: []*musterv1.CompletedExtraction{
					{DioceseName: "A", ParishesExtracted: 3, SuccessRate: 100, Duration: 1.5, Status: "completed"},
				},
			},
		},
		{
			name: "heartbeat",
			send: func(c *Client) { c.Heartbeat() },
			want: &musterv1.WorkerStatus{WorkerType: "extraction"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := strings.ReplaceAll(tt.name, " ", "-")
			id = strings.ReplaceAll(id, ",", "")
			c := newClient(t, srv.GRPCAddr, WithWorkerID(id), WithWorkerType("extraction"))
			tt.send(c)
			flush(t, c)

			want := proto.Clone(tt.want).(*musterv1.WorkerStatus)
			want.WorkerId = id
			for _, e := range want.RecentErrors {
				e.WorkerId = id
			}
			for _, e := range want.RecentLogs {
				e.WorkerId = id
			}
			for _, e := range want.ExtractionHistory {
				e.WorkerId = id
			}
			if diff := cmp.Diff(want, readWorker(t, srv, id), ignoreTimes); diff != "" {
				t.Errorf("worker (-want +got):\n%s", diff)
			}
			if got := c.Stats(); got.Queued != 0 || got.Dropped != 0 || got.Sent == 0 {
				t.Errorf("stats after flush = %+v, want all sent", got)
			}
		})
	}
}

func TestExtraction(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1:0")
	t0 := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

	tests := []struct {
		name       string
		err        error
		wantStatus string
		wantErrors []*musterv1.ErrorEvent
		wantLog    *musterv1.LogEntry
	}{
		{
			name:       "success",
			wantStatus: "completed",
			wantLog:    &musterv1.LogEntry{Level: "INFO", Module: "extraction", Message: "Completed Diocese of Erie: 25 parishes, 80.0% success"},
		},
		{
			name:       "failure",
			err:        errors.New("directory page returned 503"),
			wantStatus: "failed",
			wantErrors: []*musterv1.ErrorEvent{{
				Type: "ExtractionError", Message: "Extraction failed: directory page returned 503",
				Diocese: proto.String("Diocese of Erie"), Severity: "error",
			}},
			wantLog: &musterv1.LogEntry{Level: "ERROR", Module: "extraction", Message: "Failed Diocese of Erie after 25 parishes: directory page returned 503"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "extraction-" + tt.name
			clock := fakeclock.New(t0)
			c := newClient(t, srv.GRPCAddr, WithWorkerID(id), withClock(clock.Now))

			ex := c.StartExtraction("Diocese of Erie", 100)
			flush(t, c)
			w := readWorker(t, srv, id)
			wantStarted := &musterv1.ExtractionStatus{
				Status:         musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
				CurrentDiocese: proto.String("Diocese of Erie"),
				TotalParishes:  100,
				StartedAt:      timestamppb.New(t0),
			}
			if diff := cmp.Diff(wantStarted, w.GetExtractionStatus(), protocmp.Transform()); diff != "" {
				t.Errorf("status after start (-want +got):\n%s", diff)
			}
			wantStartLog := &musterv1.LogEntry{WorkerId: id, Level: "INFO", Module: "extraction", Message: "Started extraction for Diocese of Erie (100 parishes)"}
			if diff := cmp.Diff([]*musterv1.LogEntry{wantStartLog}, w.GetRecentLogs(), ignoreTimes); diff != "" {
				t.Errorf("logs after start (-want +got):\n%s", diff)
			}

			// 25 parishes in 50s: 2s each, so the other 75 take 150s more.
			clock.Advance(50 * time.Second)
			ex.Progress(25, 20)
			flush(t, c)
			wantProgress := &musterv1.ExtractionStatus{
				Status:              musterv1.ExtractionState_EXTRACTION_STATE_RUNNING,
				CurrentDiocese:      proto.String("Diocese of Erie"),
				ParishesProcessed:   25,
				TotalParishes:       100,
				SuccessRate:         80,
				ProgressPercentage:  25,
				StartedAt:           timestamppb.New(t0),
				EstimatedCompletion: timestamppb.New(t0.Add(200 * time.Second)),
			}
			if diff := cmp.Diff(wantProgress, readWorker(t, srv, id).GetExtractionStatus(), protocmp.Transform()); diff != "" {
				t.Errorf("status after progress (-want +got):\n%s", diff)
			}

			clock.Advance(10 * time.Second)
			ex.Finish(tt.err)
			ex.Finish(errors.New("ignored: only the first Finish counts"))
			ex.Progress(99, 99) // ignored after Finish
			flush(t, c)
			w = readWorker(t, srv, id)
			want := &musterv1.WorkerStatus{
				WorkerId:         id,
				ExtractionStatus: &musterv1.ExtractionStatus{Status: musterv1.ExtractionState_EXTRACTION_STATE_IDLE},
				RecentErrors:     tt.wantErrors,
				RecentLogs:       []*musterv1.LogEntry{tt.wantLog, wantStartLog},
				ExtractionHistory: []*musterv1.CompletedExtraction{{
					WorkerId: id, DioceseName: "Diocese of Erie", ParishesExtracted: 25,
					SuccessRate: 80, Duration: 60, Status: tt.wantStatus,
				}},
			}
			for _, e := range want.RecentErrors {
				e.WorkerId = id
			}
			tt.wantLog.WorkerId = id
			if diff := cmp.Diff(want, w, ignoreTimes); diff != "" {
				t.Errorf("worker after finish (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExtractionStatusValues(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name                  string
		total                 int64
		processed, successful int64
		elapsed               time.Duration
		wantRate, wantPercent float64
		wantETA               *timestamppb.Timestamp
	}{
		{name: "nothing done yet", total: 10},
		{name: "half way", total: 10, processed: 5, successful: 4, elapsed: time.Minute,
			wantRate: 80, wantPercent: 50, wantETA: timestamppb.New(t0.Add(2 * time.Minute))},
		{name: "no total known", processed: 5, successful: 5, elapsed: time.Minute, wantRate: 100},
		{name: "more than the total stays within 100", total: 10, processed: 12, successful: 20, elapsed: time.Minute,
			wantRate: 100, wantPercent: 100, wantETA: timestamppb.New(t0.Add(time.Minute))},
		{name: "negative counts are zero", total: 10, processed: -1, successful: -1, elapsed: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := fakeclock.New(t0)
			// The status is computed when the update is made, so the
			// client needs no server here.
			c := newClient(t, deadAddr(t), withClock(clock.Now), WithWorkerID("w"))
			ex := c.StartExtraction("D", tt.total)
			clock.Advance(tt.elapsed)
			ex.Progress(tt.processed, tt.successful)
			st := ex.status(clock.Now())
			if st.GetSuccessRate() != tt.wantRate || st.GetProgressPercentage() != tt.wantPercent {
				t.Errorf("rate, progress = %v, %v; want %v, %v", st.GetSuccessRate(), st.GetProgressPercentage(), tt.wantRate, tt.wantPercent)
			}
			if diff := cmp.Diff(tt.wantETA, st.GetEstimatedCompletion(), protocmp.Transform()); diff != "" {
				t.Errorf("estimated completion (-want +got):\n%s", diff)
			}
		})
	}
}

// queued returns what waits in c's queue, spelled as in the queue tests.
func queued(c *Client) []string {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return spellAll(c.q.items)
}

func TestServerDown(t *testing.T) {
	t.Parallel()

	t.Run("updates return at once, drop oldest first, keep the newest status", func(t *testing.T) {
		t.Parallel()
		const size, n = 100, 10_000
		c := newClient(t, deadAddr(t), WithQueueSize(size))
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.UpdateExtractionStatus(&musterv1.ExtractionStatus{CurrentDiocese: proto.String("old")})
			for i := range n {
				if i == n/2 {
					c.UpdateExtractionStatus(&musterv1.ExtractionStatus{CurrentDiocese: proto.String("new")})
				}
				c.Log("INFO", "test", "line")
				c.UpdatePerformance(&musterv1.PerformanceMetrics{QueueSize: int64(i)})
			}
		}()
		select {
		case <-done:
		case <-time.After(guard):
			t.Fatal("updates blocked while the server is down")
		}

		// The "new" status was made long before the queue's last 100
		// updates, yet it survives at the front; "old" was superseded by
		// it, which is not a drop.
		got := queued(c)
		if len(got) != size || got[0] != "s:new" {
			t.Fatalf("queue holds %d entries starting with %q; want %d starting with s:new", len(got), got[0], size)
		}
		c.q.mu.Lock()
		last := c.q.items[size-1].req.GetPerformance().GetQueueSize()
		c.q.mu.Unlock()
		if last != n-1 {
			t.Errorf("newest queued update has queue_size %d, want %d: drops must take the oldest", last, n-1)
		}
		pushed := 2 + 2*n
		st := c.Stats()
		if want := uint64(pushed - 1 - size); st.Dropped != want || st.Queued != size || st.Sent != 0 {
			t.Errorf("stats = %+v, want Dropped %d, Queued %d, Sent 0", st, want, size)
		}
	})

	t.Run("flush gives up with the context", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, deadAddr(t))
		c.Heartbeat()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Flush = %v, want context.DeadlineExceeded", err)
		}
		if got := c.Stats().Queued; got != 1 {
			t.Errorf("Queued = %d, want 1: the update waits for the server", got)
		}
	})

	t.Run("close returns and later updates are dropped", func(t *testing.T) {
		t.Parallel()
		c, err := New(deadAddr(t), WithLogger(discard), WithHeartbeatInterval(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		c.Log("INFO", "test", "never delivered")
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case err := <-closed:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close = %v, want it to report the undelivered updates", err)
			}
		case <-time.After(guard):
			t.Fatal("Close blocked")
		}
		before := c.Stats().Dropped
		c.Log("INFO", "test", "after close")
		if got := c.Stats().Dropped; got != before+1 {
			t.Errorf("Dropped = %d after an update on a closed client, want %d", got, before+1)
		}
		if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("Flush after Close = %v, want ErrClosed", err)
		}
		if err2 := c.Close(); !errors.Is(err2, context.DeadlineExceeded) {
			t.Errorf("second Close = %v, want the first one's error", err2)
		}
	})
}

// TestServerHangs: a server that accepts connections and never answers
// (the deployed Python client's failure mode) must not hold the worker up.
func TestServerHangs(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn) // never read, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	c, err := New(lis.Addr().String(), WithLogger(discard), WithHeartbeatInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5000 {
			c.Log("INFO", "test", "line")
			c.UpdatePerformance(&musterv1.PerformanceMetrics{QueueSize: int64(i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("updates blocked on a hanging server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want context.DeadlineExceeded", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(guard):
		t.Fatal("Close blocked on a hanging server")
	}
	if st := c.Stats(); st.Sent != 0 || st.Dropped == 0 {
		t.Errorf("stats = %+v, want nothing sent and the overflow dropped", st)
	}
}

func TestCloseWithNothingPending(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1:0")
	c, err := New(srv.GRPCAddr, WithLogger(discard), WithWorkerID("closer"))
	if err != nil {
		t.Fatal(err)
	}
	c.Log("INFO", "test", "bye")
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v, want nil after delivering everything", err)
	}
	if got := readWorker(t, srv, "closer").GetRecentLogs(); len(got) != 1 {
		t.Errorf("logs = %v, want the one sent before Close", got)
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	first := startServer(t, "127.0.0.1:0")
	c := newClient(t, first.GRPCAddr, WithWorkerID("phoenix"))
	c.UpdatePerformance(&musterv1.PerformanceMetrics{QueueSize: 1})
	flush(t, c)

	first.Stop()
	c.UpdatePerformance(&musterv1.PerformanceMetrics{QueueSize: 2}) // made while the server is down
	waitFor(t, "the sender to notice the server is gone", func() bool { return c.Stats().Reconnects > 0 })

	// A new server, with empty state, on the same port.
	second := startServer(t, first.GRPCAddr)
	c.Log("INFO", "test", "after restart")
	flush(t, c)

	w := readWorker(t, second, "phoenix")
	if got := w.GetPerformanceMetrics().GetQueueSize(); got != 2 {
		t.Errorf("queue_size = %d, want 2 (the update made while down)", got)
	}
	if got := len(w.GetRecentLogs()); got != 1 {
		t.Errorf("got %d logs, want the one made after the restart", got)
	}
}

func TestUnacknowledgedUpdatesAreResent(t *testing.T) {
	t.Parallel()
	first := startServer(t, "127.0.0.1:0")
	c := newClient(t, first.GRPCAddr, WithWorkerID("resender"))
	c.UpdatePerformance(&musterv1.PerformanceMetrics{QueueSize: 7})
	waitFor(t, "the first server to apply the update", func() bool {
		resp, err := first.Client.GetWorker(context.Background(), &musterv1.GetWorkerRequest{WorkerId: "resender"})
		return err == nil && resp.GetWorker().GetPerformanceMetrics().GetQueueSize() == 7
	})
	// The server dies before the stream is closed, so the update was
	// never acknowledged; the new server must get it again.
	first.Stop()
	second := startServer(t, first.GRPCAddr)
	flush(t, c)
	if got := readWorker(t, second, "resender").GetPerformanceMetrics().GetQueueSize(); got != 7 {
		t.Errorf("queue_size = %d on the new server, want 7", got)
	}
	if st := c.Stats(); st.Sent != 1 || st.Reconnects == 0 {
		t.Errorf("stats = %+v, want Sent 1 after at least one reconnect", st)
	}
}

func TestRejectedAndUnsendableUpdates(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1:0")
	c := newClient(t, srv.GRPCAddr, WithWorkerID("sloppy"))
	c.UpdateExtractionStatus(&musterv1.ExtractionStatus{SuccessRate: 150}) // the server refuses it
	c.Log("INFO", "test", "bad utf-8: \xff")                               // cannot be encoded at all
	c.Log("INFO", "test", "fine")
	flush(t, c)

	st := c.Stats()
	if st.Sent != 2 || st.Rejected != 1 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want Sent 2, Rejected 1, Dropped 1", st)
	}
	w := readWorker(t, srv, "sloppy")
	if w.GetExtractionStatus() != nil || len(w.GetRecentLogs()) != 1 {
		t.Errorf("worker = %v, want only the good log line applied", w)
	}
}

func TestHeartbeats(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "127.0.0.1:0")
	newClient(t, srv.GRPCAddr, WithWorkerID("beater"), WithWorkerType("discovery"), WithHeartbeatInterval(10*time.Millisecond))
	waitFor(t, "a heartbeat to arrive", func() bool {
		resp, err := srv.Client.GetWorker(context.Background(), &musterv1.GetWorkerRequest{WorkerId: "beater"})
		return err == nil && resp.GetWorker().GetWorkerType() == "discovery"
	})
}

// TestTokenAndReads runs against a server that requires tokens for writes
// and reads, and checks how read errors map back.
func TestTokenAndReads(t *testing.T) {
	t.Parallel()
	srv := testserver.Start(t, server.Config{AuthToken: "s3cret", ReadToken: "s3cret"})
	c := newClient(t, srv.GRPCAddr, WithWorkerID("w-1"), WithToken("s3cret"))
	c.Heartbeat()
	flush(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	w, err := c.Worker(ctx, "")
	if err != nil || w.GetWorkerId() != "w-1" {
		t.Errorf("Worker(own) = %v, %v; want worker w-1", w, err)
	}
	if _, err := c.Aggregate(ctx); err != nil {
		t.Errorf("Aggregate: %v", err)
	}
	_, err = c.Worker(ctx, "nobody")
	if !errors.Is(err, ErrNotFound) || status.Code(err) != codes.NotFound {
		t.Errorf("Worker(unknown) = %v, want ErrNotFound with code NotFound", err)
	}
	_, err = c.Worker(ctx, "bad id!")
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Worker(bad id) = %v, want ErrInvalidArgument", err)
	}
	cancelled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	if _, err := c.Aggregate(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Aggregate(cancelled) = %v, want context.Canceled", err)
	}

	// Without the token the server refuses: the updates are rejected, not lost silently.
	anon := newClient(t, srv.GRPCAddr, WithWorkerID("w-2"))
	if _, err := anon.Aggregate(ctx); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Aggregate without a token = %v, want Unauthenticated", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    []Option
		wantErr error
	}{
		{name: "pod name", opts: []Option{WithWorkerID("worker-pod-7f9c2")}},
		{name: "every allowed character", opts: []Option{WithWorkerID("A-z_0.9:x")}},
		{name: "too long", opts: []Option{WithWorkerID(strings.Repeat("x", 254))}, wantErr: ErrInvalidArgument},
		{name: "space", opts: []Option{WithWorkerID("my worker")}, wantErr: ErrInvalidArgument},
		{name: "tls", opts: []Option{WithWorkerID("w"), WithTLS(nil), WithToken("t")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New("127.0.0.1:1", append(tt.opts, WithLogger(discard))...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New = %v, want %v", err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func TestDefaultWorkerID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		hostname string
		want     string
	}{
		{name: "WORKER_ID first", env: map[string]string{"WORKER_ID": "w1", "HOSTNAME": "pod-1"}, hostname: "host", want: "w1"},
		{name: "then HOSTNAME", env: map[string]string{"HOSTNAME": "pod-1"}, hostname: "host", want: "pod-1"},
		{name: "then os.Hostname", hostname: "host", want: "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := defaultWorkerID(
				func(k string) string { return tt.env[k] },
				func() (string, error) { return tt.hostname, nil },
			)
			if got != tt.want {
				t.Errorf("defaultWorkerID = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 20; n++ {
		ceiling := min(baseDelay<<min(n-1, 10), maxDelay)
		if d := retryDelay(n); d < ceiling/2 || d > ceiling {
			t.Errorf("retryDelay(%d) = %v, want within [%v, %v]", n, d, ceiling/2, ceiling)
		}
	}
}
