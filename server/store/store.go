// Package store persists worker state behind the manager. The manager keeps
// the live state in memory and answers every read from it; a store only
// receives batches of changes off the hot path and gives them back at
// startup.
package store

import (
	"context"
	"fmt"
	"sync"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/proto"
)

// Store saves workers' full status (state and recent events).
type Store interface {
	// Load returns every saved worker.
	Load(ctx context.Context) ([]*musterv1.WorkerStatus, error)
	// Write saves puts and deletes the workers named in deletes, as one batch.
	Write(ctx context.Context, puts []*musterv1.WorkerStatus, deletes []string) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// Open returns the store a --store flag names: "file" (in dataDir) or
// "memory".
func Open(spec, dataDir string) (Store, error) {
	switch spec {
	case "file":
		return OpenFile(dataDir)
	case "memory":
		return NewMemory(), nil
	default:
		return nil, fmt.Errorf("unknown store %q (want \"file\", \"memory\" or \"redis://host:port/db\")", spec)
	}
}

// Memory keeps saved workers in process memory: nothing survives a restart
// of the process, but a manager rebuilt on the same Memory gets its workers
// back, as it would from a durable store. It keeps them encoded, which is a
// copy of its own and a fraction of the size of the live messages.
type Memory struct {
	mu      sync.Mutex
	workers map[string][]byte
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{workers: map[string][]byte{}} }

func (s *Memory) Load(context.Context) ([]*musterv1.WorkerStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*musterv1.WorkerStatus, 0, len(s.workers))
	for id, data := range s.workers {
		w := &musterv1.WorkerStatus{}
		if err := proto.Unmarshal(data, w); err != nil {
			return nil, fmt.Errorf("worker %q: %w", id, err)
		}
		out = append(out, w)
	}
	return out, nil
}

func (s *Memory) Write(_ context.Context, puts []*musterv1.WorkerStatus, deletes []string) error {
	encoded := make([][]byte, len(puts))
	for i, w := range puts {
		data, err := proto.Marshal(w)
		if err != nil {
			return fmt.Errorf("worker %q: %w", w.GetWorkerId(), err)
		}
		encoded[i] = data
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range puts {
		s.workers[w.GetWorkerId()] = encoded[i]
	}
	for _, id := range deletes {
		delete(s.workers, id)
	}
	return nil
}

func (s *Memory) Ping(context.Context) error { return nil }

func (s *Memory) Close() error { return nil }
