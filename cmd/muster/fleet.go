package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The read-and-manage commands: workers, worker, status, forget, watch.

type command func(ctx context.Context, api musterv1.MonitoringServiceClient, args []string, out io.Writer) error

// fleetCmd parses the connection flags, dials, and runs cmd.
func fleetCmd(ctx context.Context, name string, wantArgs int, cmd command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("muster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var conn connFlags
	conn.register(fs)
	positional, ok, code := parse(fs, args, wantArgs)
	if !ok {
		return code
	}
	api, ctx, closeConn, err := conn.dial(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "muster %s: %v\n", name, err)
		return 1
	}
	defer closeConn()
	if err := cmd(ctx, api, positional, stdout); err != nil {
		fmt.Fprintf(stderr, "muster %s: %v\n", name, err)
		return 1
	}
	return 0
}

func ago(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "never"
	}
	return time.Since(ts.AsTime()).Round(time.Second).String() + " ago"
}

func state(s fmt.Stringer, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), prefix))
}

func listWorkers(ctx context.Context, api musterv1.MonitoringServiceClient, _ []string, out io.Writer) error {
	resp, err := api.ListWorkers(ctx, &musterv1.ListWorkersRequest{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tTYPE\tSTATUS\tHEALTH\tDIOCESE\tPROGRESS\tSUCCESS\tLAST SEEN")
	for _, w := range resp.GetWorkers() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%.1f%%\t%s\n", w.GetWorkerId(), w.GetWorkerType(),
			state(w.GetStatus(), "EXTRACTION_STATE_"), state(w.GetHealth(), "HEALTH_"), w.GetCurrentDiocese(),
			w.GetParishesProcessed(), w.GetTotalParishes(), w.GetSuccessRate(), ago(w.GetLastUpdated()))
	}
	return tw.Flush()
}

func showWorker(ctx context.Context, api musterv1.MonitoringServiceClient, args []string, out io.Writer) error {
	resp, err := api.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: args[0]})
	if err != nil {
		return err
	}
	w := resp.GetWorker()
	st := w.GetExtractionStatus()
	fmt.Fprintf(out, "%s (%s)  %s, %s, last seen %s\n", w.GetWorkerId(), w.GetWorkerType(),
		state(st.GetStatus(), "EXTRACTION_STATE_"), state(w.GetHealth(), "HEALTH_"), ago(w.GetLastUpdated()))
	fmt.Fprintf(out, "  %s: %d/%d parishes, %.1f%% success\n", st.GetCurrentDiocese(), st.GetParishesProcessed(), st.GetTotalParishes(), st.GetSuccessRate())
	if p := w.GetPerformanceMetrics(); p != nil {
		fmt.Fprintf(out, "  %.1f parishes/min, queue %d, pool %.0f%%\n", p.GetParishesPerMinute(), p.GetQueueSize(), p.GetPoolUtilization())
	}
	printBreakers(out, w.GetCircuitBreakers())
	for _, e := range w.GetRecentErrors() {
		fmt.Fprintf(out, "  error %s %s: %s\n", e.GetTimestamp().AsTime().Format(time.TimeOnly), e.GetType(), e.GetMessage())
	}
	for _, l := range w.GetRecentLogs()[:min(5, len(w.GetRecentLogs()))] {
		fmt.Fprintf(out, "  log   %s %s: %s\n", l.GetTimestamp().AsTime().Format(time.TimeOnly), l.GetLevel(), l.GetMessage())
	}
	return nil
}

func printBreakers[B interface {
	GetState() musterv1.BreakerState
	GetTotalRequests() int64
	GetSuccessRate() float64
	GetTotalBlocked() int64
}](out io.Writer, breakers map[string]B) {
	names := make([]string, 0, len(breakers))
	for n := range breakers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b := breakers[n]
		fmt.Fprintf(out, "  breaker %-24s %-9s %6d requests %5.1f%% success %4d blocked\n", n,
			strings.TrimPrefix(b.GetState().String(), "BREAKER_STATE_"), b.GetTotalRequests(), b.GetSuccessRate(), b.GetTotalBlocked())
	}
}

func showStatus(ctx context.Context, api musterv1.MonitoringServiceClient, _ []string, out io.Writer) error {
	resp, err := api.GetAggregate(ctx, &musterv1.GetAggregateRequest{})
	if err != nil {
		return err
	}
	printAggregate(out, resp.GetAggregate())
	return nil
}

func printAggregate(out io.Writer, a *musterv1.Aggregate) {
	e := a.GetExtractionStatus()
	fmt.Fprintf(out, "fleet %s: %d active / %d workers, %d stale\n", state(e.GetStatus(), "EXTRACTION_STATE_"),
		e.GetActiveWorkers(), e.GetTotalWorkers(), e.GetStaleWorkers())
	fmt.Fprintf(out, "  %d/%d parishes (%.1f%%), %.1f%% success, %.1f parishes/min\n", e.GetParishesProcessed(), e.GetTotalParishes(),
		e.GetProgressPercentage(), e.GetSuccessRate(), a.GetPerformanceMetrics().GetParishesPerMinute())
	if e.CurrentDiocese != nil {
		fmt.Fprintf(out, "  dioceses: %s\n", e.GetCurrentDiocese())
	}
	printBreakers(out, a.GetCircuitBreakers())
}

func forgetWorker(ctx context.Context, api musterv1.MonitoringServiceClient, args []string, out io.Writer) error {
	if _, err := api.ForgetWorker(ctx, &musterv1.ForgetWorkerRequest{WorkerId: args[0]}); err != nil {
		return err
	}
	fmt.Fprintf(out, "forgot %s\n", args[0])
	return nil
}
