package simulate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"github.com/musterhq/muster/simulate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFleetAddsUp runs a short simulation against a real server and checks
// that the server's aggregate is the sum of what the workers reported, and
// that the worker that went silent turned stale.
func TestFleetAddsUp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end simulation; skipped under -short")
	}
	srv := testserver.Start(t, server.Config{StaleAfter: 1500 * time.Millisecond})
	res, err := simulate.Run(context.Background(), simulate.Config{
		GRPCAddr: srv.GRPCAddr, HTTPURL: srv.HTTPURL,
		GRPCWorkers: 4, RESTWorkers: 2, Step: 20 * time.Millisecond,
		SilentAfter: 300 * time.Millisecond, Duration: 2500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Updates < 100 || res.Failed != 0 || res.Dropped != 0 {
		t.Errorf("result = %+v, want 100+ updates, none failed or dropped", res)
	}

	// A watch snapshot is one consistent view of the workers and the aggregate.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watch, err := srv.Client.Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	snap := first.GetSnapshot()
	ext := snap.GetAggregate().GetExtractionStatus()
	var active int32
	var processed, total int64
	health := map[string]musterv1.Health{}
	for _, w := range snap.GetWorkers() {
		health[w.GetWorkerId()] = w.GetHealth()
		if w.GetHealth() == musterv1.Health_HEALTH_FRESH && w.GetStatus() == musterv1.ExtractionState_EXTRACTION_STATE_RUNNING {
			active++
			processed += w.GetParishesProcessed()
			total += w.GetTotalParishes()
		}
	}
	if len(snap.GetWorkers()) != 6 || ext.GetTotalWorkers() != 6 {
		t.Errorf("workers = %d listed, %d in aggregate; want 6 (4 gRPC, the legacy worker, 1 REST)", len(snap.GetWorkers()), ext.GetTotalWorkers())
	}
	if ext.GetActiveWorkers() != active || ext.GetParishesProcessed() != processed || ext.GetTotalParishes() != total {
		t.Errorf("aggregate = %d active, %d of %d; the workers add up to %d active, %d of %d", ext.GetActiveWorkers(),
			ext.GetParishesProcessed(), ext.GetTotalParishes(), active, processed, total)
	}
	if health["sim-grpc-01"] != musterv1.Health_HEALTH_STALE || health["sim-grpc-02"] != musterv1.Health_HEALTH_FRESH || health["legacy"] != musterv1.Health_HEALTH_FRESH {
		t.Errorf("health = %v, want sim-grpc-01 stale (silent), the rest fresh", health)
	}
}

func TestFleetWithAToken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end simulation; skipped under -short")
	}
	srv := testserver.Start(t, server.Config{AuthToken: "s3cret"})
	cfg := simulate.Config{
		GRPCAddr: srv.GRPCAddr, HTTPURL: srv.HTTPURL, GRPCWorkers: 2, RESTWorkers: 2,
		Step: 20 * time.Millisecond, Duration: time.Second,
	}
	if _, err := simulate.Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("without the token: %v, want an error about the token", err)
	}
	cfg.Token = "s3cret"
	res, err := simulate.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.Aggregate.GetExtractionStatus().GetTotalWorkers() != 4 {
		t.Errorf("with the token: %d failed, aggregate %v; want none failed and 4 workers", res.Failed, res.Aggregate.GetExtractionStatus())
	}
}
