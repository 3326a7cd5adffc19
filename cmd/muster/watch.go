package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// watchView is the live terminal view: the aggregate and the noisiest
// workers (most errors and log lines since the watch began).
type watchView struct {
	aggregate *musterv1.Aggregate
	workers   map[string]*musterv1.WorkerSummary
	noise     map[string]int
}

func (v *watchView) apply(ev *musterv1.WatchResponse) {
	switch e := ev.GetEvent().(type) {
	case *musterv1.WatchResponse_Snapshot:
		v.aggregate = e.Snapshot.GetAggregate()
		v.workers = map[string]*musterv1.WorkerSummary{}
		for _, w := range e.Snapshot.GetWorkers() {
			v.workers[w.GetWorkerId()] = w
		}
	case *musterv1.WatchResponse_Aggregate:
		v.aggregate = e.Aggregate
	case *musterv1.WatchResponse_WorkerChanged:
		v.workers[e.WorkerChanged.GetWorkerId()] = e.WorkerChanged
	case *musterv1.WatchResponse_WorkerRemoved:
		delete(v.workers, e.WorkerRemoved)
		delete(v.noise, e.WorkerRemoved)
	case *musterv1.WatchResponse_Error:
		v.noise[e.Error.GetWorkerId()] += 5 // an error counts for more than a log line
	case *musterv1.WatchResponse_Log:
		v.noise[e.Log.GetWorkerId()]++
	}
}

func (v *watchView) render(out io.Writer, top int) {
	fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear
	fmt.Fprintf(out, "muster watch  %s\n\n", time.Now().Format(time.TimeOnly))
	printAggregate(out, v.aggregate)
	ids := make([]string, 0, len(v.noise))
	for id := range v.noise {
		if id != "" {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return v.noise[b] - v.noise[a] })
	fmt.Fprintf(out, "\nnoisiest workers\n")
	for _, id := range ids[:min(top, len(ids))] {
		w := v.workers[id]
		fmt.Fprintf(out, "  %-24s %4d  %-8s %-6s %d/%d %s\n", id, v.noise[id], state(w.GetStatus(), "EXTRACTION_STATE_"),
			state(w.GetHealth(), "HEALTH_"), w.GetParishesProcessed(), w.GetTotalParishes(), w.GetCurrentDiocese())
	}
}

// watchFleet redraws at most once a second until ctx ends.
func watchFleet(ctx context.Context, api musterv1.MonitoringServiceClient, _ []string, out io.Writer) error {
	stream, err := api.Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		return err
	}
	v := &watchView{workers: map[string]*musterv1.WorkerSummary{}, noise: map[string]int{}}
	var drawn time.Time
	for {
		ev, err := stream.Recv()
		if errors.Is(ctx.Err(), context.Canceled) || status.Code(err) == codes.Canceled {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		v.apply(ev)
		if time.Since(drawn) >= time.Second || ev.GetSnapshot() != nil {
			v.render(out, 10)
			drawn = time.Now()
		}
	}
}
