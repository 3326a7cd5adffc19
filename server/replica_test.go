package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testredis"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
)

// eventually polls cond for up to a second: the promise to readers of
// another replica.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within a second: %s", what)
		}
	}
}

func aggregateOf(t *testing.T, s *testserver.Server) *musterv1.ExtractionAggregate {
	t.Helper()
	resp, err := s.Client.GetAggregate(context.Background(), &musterv1.GetAggregateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetAggregate().GetExtractionStatus()
}

func TestReplicasShareTheFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and three replicas; skipped under -short")
	}
	redis := testredis.Start(t)
	cfg := server.Config{Store: redis.URL(), StaleAfter: time.Hour}
	a, b := testserver.Start(t, cfg), testserver.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// B's watchers and WebSocket clients see what is written to A.
	watch, err := b.Client.Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil { // snapshot
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, strings.Replace(b.HTTPURL, "http", "ws", 1)+"/ws/monitoring", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	for i := range 10 {
		if code, _ := a.Post(t, fmt.Sprintf("/api/monitoring/worker/w%d/extraction_status", i),
			fmt.Sprintf(`{"status":"running","parishes_processed":%d,"total_parishes":100,"success_rate":90}`, i+1)); code != 200 {
			t.Fatalf("write to A: HTTP %d", code)
		}
	}
	a.PostOK(t, "/api/monitoring/worker/w0/log", `{"message":"from A","level":"INFO"}`)
	// Read-your-writes on the replica written to, at once.
	if got := aggregateOf(t, a); got.GetTotalWorkers() != 10 || got.GetParishesProcessed() != 55 {
		t.Fatalf("A right after its writes: %v", got)
	}
	eventually(t, "B's reads show A's writes", func() bool {
		got := aggregateOf(t, b)
		return got.GetTotalWorkers() == 10 && got.GetParishesProcessed() == 55
	})
	for sawWorker := false; !sawWorker; {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		sawWorker = msg.GetWorkerChanged().GetWorkerId() == "w9"
	}
	for sawLog := false; !sawLog; {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Type    string         `json:"type"`
			Payload map[string]any `json:"payload"`
		}
		_ = json.Unmarshal(data, &m)
		sawLog = m.Type == "live_log" && m.Payload["message"] == "from A"
	}

	// Forgetting on B forgets everywhere; no worker is counted twice.
	if _, err := b.Client.ForgetWorker(ctx, &musterv1.ForgetWorkerRequest{WorkerId: "w9"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A forgets w9 too", func() bool { return aggregateOf(t, a).GetTotalWorkers() == 9 })

	// A replica that starts later rebuilds its view from Redis.
	c := testserver.Start(t, cfg)
	w0, err := c.Client.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: "w0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := aggregateOf(t, c); got.GetTotalWorkers() != 9 || got.GetParishesProcessed() != 45 || len(w0.GetWorker().GetRecentLogs()) != 1 {
		t.Errorf("a new replica rebuilt %v and w0 with %d logs; want 9 workers, 45 processed, 1 log", got, len(w0.GetWorker().GetRecentLogs()))
	}

	// When A dies, B and C keep serving and agree.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	b.PostOK(t, "/api/monitoring/worker/w10/heartbeat", `{}`)
	eventually(t, "C sees the write to B after A died", func() bool { return aggregateOf(t, c).GetTotalWorkers() == 10 })

	// Redis restarts empty: the replicas reconnect, keep their state, and
	// the snapshot is written again in full, so a newcomer still sees all.
	redis.Restart()
	eventually(t, "writes through B work again after Redis restarted", func() bool {
		code, _ := b.Post(t, "/api/monitoring/worker/w11/heartbeat", `{}`)
		return code == http.StatusOK
	})
	eventually(t, "C sees it", func() bool { return aggregateOf(t, c).GetTotalWorkers() == 11 })
	time.Sleep(2 * time.Second) // a snapshot period or two
	d := testserver.Start(t, cfg)
	if got := aggregateOf(t, d); got.GetTotalWorkers() != 11 || got.GetParishesProcessed() != 45 {
		t.Errorf("a replica started after the Redis restart sees %v; want 11 workers, 45 processed", got)
	}
}

func TestWritesFailCleanlyWhileRedisIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server; skipped under -short")
	}
	redis := testredis.Start(t)
	s := testserver.Start(t, server.Config{Store: redis.URL()})
	s.PostOK(t, "/api/monitoring/worker/w1/heartbeat", `{}`)
	redis.Stop()
	if code, _ := s.Post(t, "/api/monitoring/worker/w2/heartbeat", `{}`); code != http.StatusServiceUnavailable {
		t.Errorf("write with Redis down: HTTP %d, want 503", code)
	}
	if got := aggregateOf(t, s); got.GetTotalWorkers() != 1 {
		t.Errorf("reads with Redis down: %v, want the one worker", got)
	}
	if code, _ := s.Get(t, "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: HTTP %d, want 503", code)
	}
}
