package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/musterhq/muster/simulate"
)

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg simulate.Config
	fs := flag.NewFlagSet("muster simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "localhost:9090", "musterd gRPC address")
	fs.StringVar(&cfg.HTTPURL, "http-url", "http://localhost:8000", "musterd HTTP base URL")
	fs.IntVar(&cfg.GRPCWorkers, "workers", 6, "Go-client workers reporting over gRPC")
	fs.IntVar(&cfg.RESTWorkers, "legacy-workers", 2, "legacy-shaped workers reporting over REST (the first on the legacy paths)")
	fs.DurationVar(&cfg.Step, "step", 500*time.Millisecond, "time a worker spends on one parish")
	fs.DurationVar(&cfg.SilentAfter, "silent-after", 20*time.Second, "when one worker goes silent (0: never)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to run (0: until interrupted)")
	fs.DurationVar(&cfg.ReportEvery, "report-every", 5*time.Second, "how often to print progress")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.StringVar(&cfg.Token, "token", os.Getenv("MUSTER_TOKEN"), "bearer token for a server started with --auth-token (env MUSTER_TOKEN)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.Out = stdout
	fmt.Fprintf(stdout, "simulating %d gRPC and %d REST workers against %s and %s\n", cfg.GRPCWorkers, cfg.RESTWorkers, cfg.GRPCAddr, cfg.HTTPURL)
	res, err := simulate.Run(ctx, cfg)
	e := res.Aggregate.GetExtractionStatus()
	fmt.Fprintf(stdout, "sent %d updates in %s (%.0f/s), %d failed, %d dropped; server: %d workers, %d active, %d stale\n",
		res.Updates, res.Elapsed.Round(100*time.Millisecond), float64(res.Updates)/res.Elapsed.Seconds(), res.Failed, res.Dropped,
		e.GetTotalWorkers(), e.GetActiveWorkers(), e.GetStaleWorkers())
	if err != nil {
		fmt.Fprintln(stderr, "muster simulate:", err)
		return 1
	}
	return 0
}
