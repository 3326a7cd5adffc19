package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/musterhq/muster/server/manager"
	"github.com/musterhq/muster/server/replica"
	"github.com/musterhq/muster/server/store"
)

// backend keeps the fleet beyond this process's memory: a store written in
// batches off the hot path ("file", "memory"), or the Redis replication log
// that several replicas share ("redis://host:port/db").
type backend struct {
	write writer
	ping  func(context.Context) error
	sync  func() // about once a second, from Run's loop
	close func() // after shutdown: final flush, release
}

// redacted is a store spec fit for logs: a Redis URL without its password.
func redacted(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.User != nil {
		return u.Redacted()
	}
	return spec
}

func isRedis(spec string) bool {
	return strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://")
}

// openBackend opens what cfg.Store names and loads the fleet into m.
func openBackend(ctx context.Context, cfg Config, m *manager.Manager, mt *metrics, log *slog.Logger) (*backend, error) {
	if isRedis(cfg.Store) {
		l, err := replica.Open(ctx, cfg.Store, m, log)
		if err != nil {
			return nil, err
		}
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); l.Run(runCtx) }()
		return &backend{
			write: l,
			ping:  l.Ping,
			sync:  func() {},
			close: func() { cancel(); <-done; l.Close() },
		}, nil
	}

	st, err := store.Open(cfg.Store, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	saved, err := st.Load(ctx)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("load store: %w", err)
	}
	m.Restore(saved)
	flush := func() {
		puts, deletes := m.TakeChanges()
		if len(puts) == 0 && len(deletes) == 0 {
			return
		}
		start := time.Now()
		if err := st.Write(context.WithoutCancel(ctx), puts, deletes); err != nil {
			mt.storeErrors.Inc()
			log.Error("store write failed", "err", err)
		}
		mt.storeFlush.Observe(time.Since(start).Seconds())
	}
	return &backend{
		write: localWriter{m},
		ping:  st.Ping,
		sync:  flush,
		close: func() { flush(); st.Close() },
	}, nil
}
