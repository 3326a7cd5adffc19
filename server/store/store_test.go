package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/store"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestMemoryKeepsWritesAndDeletes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := store.Open("memory")
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
	if _, err := store.Open("postgres://x"); err == nil {
		t.Error("Open of an unknown store succeeded")
	}
}
