package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/store"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestMemoryKeepsWritesAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open("memory", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w1 := &musterv1.WorkerStatus{WorkerId: "w1", WorkerType: "discovery"}
	w2 := &musterv1.WorkerStatus{WorkerId: "w2"}
	if err := s.Write(ctx, []*musterv1.WorkerStatus{w1, w2}, nil); err != nil {
		t.Fatal(err)
	}
	w1.WorkerType = "changed after the write" // the store keeps its own copy
	if err := s.Write(ctx, nil, []string{"w2", "never-saved"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*musterv1.WorkerStatus{{WorkerId: "w1", WorkerType: "discovery"}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestOpenRefusesUnknownStores(t *testing.T) {
	t.Parallel()
	if _, err := store.Open("postgres://x", t.TempDir()); err == nil {
		t.Error("Open of an unknown store succeeded")
	}
}

func TestFileSurvivesReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open("file", dir)
	if err != nil {
		t.Fatal(err)
	}
	puts := []*musterv1.WorkerStatus{
		{WorkerId: "w1", WorkerType: "discovery", RecentLogs: []*musterv1.LogEntry{{Message: "hi"}}},
		{WorkerId: "w2"},
	}
	if err := s.Write(ctx, puts, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, []*musterv1.WorkerStatus{{WorkerId: "w3"}}, []string{"w2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open("file", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []*musterv1.WorkerStatus{puts[0], {WorkerId: "w3"}}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("Load after reopen (-want +got):\n%s", diff)
	}
}

func TestFileRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open("file", notADir); err == nil {
		t.Error("a data directory that is a file was accepted")
	}

	corrupt := t.TempDir()
	garbage := bytes.Repeat([]byte("not a database "), 1000)
	dbPath := filepath.Join(corrupt, store.FileName)
	if err := os.WriteFile(dbPath, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open("file", corrupt); err == nil {
		t.Error("a corrupt database was accepted")
	}
	if after, _ := os.ReadFile(dbPath); !bytes.Equal(after, garbage) {
		t.Error("the corrupt database was modified; it must be left untouched")
	}

	locked := t.TempDir()
	first, err := store.Open("file", locked)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := store.Open("file", locked); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("second open of a data directory in use: %v, want a 'locked' error", err)
	}
}
