package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"google.golang.org/grpc/metadata"
)

// syncBuffer is a bytes.Buffer safe to write from one goroutine while
// another reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFleetCommands(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{AuthToken: "tok", ReadToken: "tok"})
	ctx := context.Background()
	diocese := "Diocese of Erie"
	authed := func(args ...string) []string {
		return append(args[:1:1], append([]string{"--grpc-addr=" + s.GRPCAddr, "--token=tok"}, args[1:]...)...)
	}
	stream, err := s.Client.Report(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer tok"))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*musterv1.ReportRequest{
		{WorkerId: "pod-1", Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: &musterv1.ExtractionStatus{
			Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, CurrentDiocese: &diocese, ParishesProcessed: 3, TotalParishes: 5, SuccessRate: 100,
		}}},
		{WorkerId: "pod-1", Update: &musterv1.ReportRequest_CircuitBreakers{CircuitBreakers: &musterv1.CircuitBreakers{Breakers: map[string]*musterv1.CircuitBreaker{
			"webdriver": {State: musterv1.BreakerState_BREAKER_STATE_OPEN, TotalRequests: 9},
		}}}},
		{WorkerId: "pod-2", Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{WorkerType: "schedule"}}},
	} {
		if err := stream.Send(u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"workers", authed("workers"), 0, []string{"WORKER", "pod-1", "running", "fresh", "Diocese of Erie", "3/5", "pod-2", "schedule"}},
		{"worker", authed("worker", "pod-1"), 0, []string{"pod-1", "3/5 parishes", "webdriver", "OPEN"}},
		{"status", authed("status"), 0, []string{"fleet running: 1 active / 2 workers", "3/5 parishes (60.0%)", "Diocese of Erie"}},
		{"unknown worker", authed("worker", "ghost"), 1, []string{"not found"}},
		{"without the token", []string{"workers", "--grpc-addr=" + s.GRPCAddr}, 1, []string{"Unauthenticated"}},
		{"missing argument", authed("worker"), 2, []string{"want 1 argument"}},
		{"flags after the argument", []string{"worker", "pod-1", "--grpc-addr=" + s.GRPCAddr, "--token=tok"}, 0, []string{"3/5 parishes"}},
		{"forget", authed("forget", "pod-2"), 0, []string{"forgot pod-2"}},
	}
	for _, tt := range tests { // in order: forget comes last
		var out bytes.Buffer
		if code := run(ctx, tt.args, &out, &out); code != tt.wantCode {
			t.Errorf("%s: exit %d, want %d:\n%s", tt.name, code, tt.wantCode, out.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, out.String())
			}
		}
	}

	// watch draws the aggregate and the noisiest workers until interrupted.
	watchCtx, cancel := context.WithCancel(ctx)
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(watchCtx, authed("watch"), &out, &out) }()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "noisiest workers"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("watch drew nothing:\n%s", out.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "fleet running: 1 active / 1 workers") {
		t.Errorf("watch output:\n%s", out.String())
	}
}
