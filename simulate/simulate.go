// Package simulate drives a realistic fleet of pipeline workers against a
// Muster server, so the service can be watched working: Go-client workers
// over gRPC and legacy-shaped workers over REST go through extraction cycles
// with breakers opening and recovering, errors, logs, completions, and one
// worker that goes silent.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musterhq/muster/client"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Config describes the fleet. Zero values take the documented defaults.
type Config struct {
	// GRPCAddr is the server's gRPC address. Default "localhost:9090".
	GRPCAddr string
	// HTTPURL is the server's HTTP base URL. Default "http://localhost:8000".
	HTTPURL string
	// GRPCWorkers is the number of Go-client workers. Default 6.
	GRPCWorkers int
	// RESTWorkers is the number of legacy-shaped REST workers; the first one
	// uses the legacy paths without a worker id. Default 2.
	RESTWorkers int
	// Step is the time a worker spends on one parish. Default 500ms.
	Step time.Duration
	// SilentAfter is when the first gRPC worker goes silent (0: never).
	SilentAfter time.Duration
	// Duration bounds the run (0: until ctx ends).
	Duration time.Duration
	// ReportEvery is how often progress is printed. Default 5s.
	ReportEvery time.Duration
	// Token, when set, is sent as a bearer token on every request.
	Token string
	// Seed makes a run repeatable. Default 1.
	Seed uint64
	// Out receives progress lines. Default io.Discard.
	Out io.Writer
}

func (c *Config) setDefaults() {
	if c.GRPCAddr == "" {
		c.GRPCAddr = "localhost:9090"
	}
	if c.HTTPURL == "" {
		c.HTTPURL = "http://localhost:8000"
	}
	if c.GRPCWorkers < 0 {
		c.GRPCWorkers = 0
	}
	if c.Step <= 0 {
		c.Step = 500 * time.Millisecond
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = 5 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
}

// Result sums up a run.
type Result struct {
	// Updates is how many updates the workers handed over: queued by the Go
	// client, or answered 200 over REST.
	Updates int64
	// Failed counts REST updates that did not get a 200.
	Failed int64
	// Dropped counts updates the Go clients dropped from full queues.
	Dropped int64
	// Elapsed is the length of the run.
	Elapsed time.Duration
	// Aggregate is the server's aggregate at the end.
	Aggregate *musterv1.Aggregate
}

// Run drives the fleet until ctx ends or cfg.Duration passes.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.setDefaults()
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	if err := waitReady(ctx, cfg.HTTPURL, cfg.Token); err != nil {
		return Result{}, err
	}
	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	api := musterv1.NewMonitoringServiceClient(conn)
	if cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cfg.Token)
	}

	var counters counters
	var clients []*client.Client
	var wg sync.WaitGroup
	start := time.Now()
	types := []string{"discovery", "extraction", "schedule"}
	for i := range cfg.GRPCWorkers {
		id := fmt.Sprintf("sim-grpc-%02d", i+1)
		c, err := client.New(cfg.GRPCAddr, client.WithWorkerID(id), client.WithWorkerType(types[i%len(types)]),
			client.WithHeartbeatInterval(5*time.Second), client.WithToken(cfg.Token))
		if err != nil {
			return Result{}, err
		}
		clients = append(clients, c)
		workerCtx := ctx
		if i == 0 && cfg.SilentAfter > 0 {
			var cancel context.CancelFunc
			workerCtx, cancel = context.WithTimeout(ctx, cfg.SilentAfter)
			defer cancel()
		}
		w := newWorker(cfg, rand.New(rand.NewPCG(cfg.Seed, uint64(i))), &grpcReporter{c: c, counters: &counters})
		wg.Go(func() {
			w.run(workerCtx)
			if workerCtx.Err() != nil && ctx.Err() == nil {
				fmt.Fprintf(cfg.Out, "%s goes silent\n", id)
				_ = c.Close() // no more heartbeats either
			}
		})
	}
	for i := range cfg.RESTWorkers {
		id := fmt.Sprintf("sim-rest-%02d", i+1)
		if i == 0 {
			id = "" // the legacy paths: the server's pseudo-worker
		}
		w := newWorker(cfg, rand.New(rand.NewPCG(cfg.Seed, uint64(1000+i))), newRESTReporter(cfg.HTTPURL, id, cfg.Token, &counters))
		wg.Go(func() { w.run(ctx) })
	}

	report := time.NewTicker(cfg.ReportEvery)
	defer report.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	last, lastAt := int64(0), start
	for running := true; running; {
		select {
		case <-done:
			running = false
		case now := <-report.C:
			sent := counters.updates.Load()
			rate := float64(sent-last) / now.Sub(lastAt).Seconds()
			last, lastAt = sent, now
			fmt.Fprintf(cfg.Out, "%s  %d updates (%.0f/s)  %s\n", now.Sub(start).Truncate(time.Second), sent, rate, describe(ctx, api))
		}
	}

	res := Result{Elapsed: time.Since(start)}
	var errs []error
	if n := counters.unauthorized.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("the server refused %d updates for want of a valid token (--token)", n))
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, c := range clients {
		if err := c.Shutdown(flushCtx); err != nil && !errors.Is(err, client.ErrClosed) {
			errs = append(errs, err)
		}
		res.Dropped += int64(c.Stats().Dropped)
	}
	res.Updates, res.Failed = counters.updates.Load(), counters.failed.Load()
	if agg, err := api.GetAggregate(flushCtx, &musterv1.GetAggregateRequest{}); err == nil {
		res.Aggregate = agg.GetAggregate()
	} else {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// waitReady waits up to 30 s for the server to answer, so that a fleet
// started together with its server does not lose its first updates.
func waitReady(ctx context.Context, base, token string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/monitoring/workers", nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusUnauthorized:
				return fmt.Errorf("server at %s refused the token (see --token)", base)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server at %s not ready: %w", base, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type counters struct {
	updates, failed, unauthorized atomic.Int64
}

// describe is a one-line view of the server's aggregate.
func describe(ctx context.Context, api musterv1.MonitoringServiceClient) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := api.GetAggregate(ctx, &musterv1.GetAggregateRequest{})
	if err != nil {
		return "aggregate: " + err.Error()
	}
	e := resp.GetAggregate().GetExtractionStatus()
	open := 0
	for _, b := range resp.GetAggregate().GetCircuitBreakers() {
		if b.GetState() == musterv1.BreakerState_BREAKER_STATE_OPEN {
			open++
		}
	}
	return fmt.Sprintf("workers %d active / %d total / %d stale, %d of %d parishes, %.1f%% success, %d breakers open",
		e.GetActiveWorkers(), e.GetTotalWorkers(), e.GetStaleWorkers(), e.GetParishesProcessed(), e.GetTotalParishes(),
		e.GetSuccessRate(), open)
}
