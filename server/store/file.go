package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// FileName is the database file inside the data directory.
const FileName = "muster.db"

var workersBucket = []byte("workers")

// File is the durable embedded store: a bbolt database in a data directory.
// Every Write is one fsynced transaction, and the server writes about once a
// second off the hot path, so a crash loses at most about a second of
// acknowledged updates.
type File struct {
	db *bolt.DB
}

// OpenFile opens (or creates) the store in dir. It refuses, and never wipes,
// a directory or database it cannot read.
func OpenFile(dir string) (*File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("store %s is locked by another process (is another musterd running on this data directory?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s cannot be opened (it is left untouched): %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(workersBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return &File{db: db}, nil
}

func (s *File) Load(context.Context) ([]*musterv1.WorkerStatus, error) {
	var out []*musterv1.WorkerStatus
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(workersBucket).ForEach(func(k, v []byte) error {
			w := &musterv1.WorkerStatus{}
			if err := proto.Unmarshal(v, w); err != nil {
				return fmt.Errorf("worker %q: %w", k, err)
			}
			out = append(out, w)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load store (it is left untouched): %w", err)
	}
	return out, nil
}

func (s *File) Write(_ context.Context, puts []*musterv1.WorkerStatus, deletes []string) error {
	// Marshal outside the transaction to keep the write lock short.
	values := make([][]byte, len(puts))
	for i, w := range puts {
		data, err := proto.Marshal(w)
		if err != nil {
			return fmt.Errorf("worker %q: %w", w.GetWorkerId(), err)
		}
		values[i] = data
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(workersBucket)
		for i, w := range puts {
			if err := b.Put([]byte(w.GetWorkerId()), values[i]); err != nil {
				return err
			}
		}
		for _, id := range deletes {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Ping checks that the database can still be read.
func (s *File) Ping(context.Context) error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(workersBucket) == nil {
			return errors.New("store: workers bucket missing")
		}
		return nil
	})
}

func (s *File) Close() error { return s.db.Close() }
