package server_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
)

// ingest streams n updates over 1,000 workers and returns how long the
// server took to accept them all.
func ingest(t *testing.T, s *testserver.Server, n int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // deadlock guard
	defer cancel()
	start := time.Now()
	stream, err := s.Client.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	diocese := strings.Repeat("Diocese of Somewhere ", 20)
	for i := range n {
		err := stream.Send(&musterv1.ReportRequest{
			WorkerId: fmt.Sprintf("w%04d", i%1000),
			Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: &musterv1.ExtractionStatus{
				Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, CurrentDiocese: &diocese,
				ParishesProcessed: int64(i), TotalParishes: int64(n),
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAccepted() != int64(n) {
		t.Fatalf("accepted %d of %d", resp.GetAccepted(), n)
	}
	return time.Since(start)
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestStalledReadersDoNotHoldUpIngest opens a gRPC watch, a REST watch and
// a WebSocket feed that never read, then streams 10,000 updates: ingest
// completes, memory stays flat, and the WebSocket that cannot keep up is
// dropped. The timings are logged against a baseline with no readers.
func TestStalledReadersDoNotHoldUpIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 20,000 updates; skipped under -short")
	}
	const updates = 10_000
	s := testserver.Start(t, server.Config{})
	baseline := ingest(t, s, updates)
	heapBefore := heapInUse()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Client.Watch(ctx, &musterv1.WatchRequest{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTPURL+"/api/monitoring/watch", nil)
	restWatch, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer restWatch.Body.Close()
	ws, _, err := websocket.Dial(ctx, strings.Replace(s.HTTPURL, "http", "ws", 1)+"/ws/monitoring", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	stalled := ingest(t, s, updates)
	heapAfter := heapInUse()
	t.Logf("10,000 updates: %v with no readers, %v with three stalled readers (%.2fx); heap in use %d -> %d KiB",
		baseline, stalled, float64(stalled)/float64(baseline), heapBefore>>10, heapAfter>>10)
	if grown := int64(heapAfter) - int64(heapBefore); grown > 64<<20 {
		t.Errorf("heap grew by %d MiB with stalled readers", grown>>20)
	}

	// The WebSocket feed could not keep up: the server dropped it. (Whether
	// its close frame gets through depends on the socket buffers, so the
	// counter is the evidence; reading drains what was buffered, then ends.)
	readCtx, readCancel := context.WithTimeout(ctx, 30*time.Second)
	defer readCancel()
	for {
		if _, _, err := ws.Read(readCtx); err != nil {
			if readCtx.Err() != nil {
				t.Fatal("the stalled WebSocket was never dropped")
			}
			break
		}
	}
	if _, body := s.Get(t, "/metrics"); !strings.Contains(body, "muster_websocket_dropped_total 1") {
		t.Error("muster_websocket_dropped_total is not 1")
	}
}
