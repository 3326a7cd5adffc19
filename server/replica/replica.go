// Package replica lets several musterd replicas share one fleet through
// Redis. Every accepted write is appended to a Redis stream, and every
// replica, the writer's own included, applies the stream to its manager in
// stream order: all replicas apply the same writes in the same order, so
// they hold the same state, and each serves reads and watches from memory.
//
// A write returns once its own replica has applied it, so a client reads
// its writes back from the replica it wrote to; the other replicas follow
// within the time it takes them to read the stream (milliseconds).
//
// One replica at a time (holding a lease in Redis) keeps a snapshot of the
// fleet in a Redis hash, with the stream id it is consistent with; a
// replica that starts loads the snapshot and replays the stream from there.
// Liveness is computed by each replica from the times it applied the
// writes, so replicas agree on staleness to within that lag.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/manager"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
)

const (
	streamKey   = "muster:writes"
	snapshotKey = "muster:snapshot"    // hash: worker id -> WorkerStatus
	snapIDKey   = "muster:snapshot:id" // stream id the snapshot is consistent with
	leaseKey    = "muster:snapshot:lease"

	streamCap     = 200_000 // entries kept (approximately); the snapshot covers older ones
	leaseTTL      = 3 * time.Second
	snapshotEvery = time.Second
	applyTimeout  = 5 * time.Second
)

// ErrUnavailable is returned when a write cannot be logged or is not
// applied in time (Redis unreachable).
var ErrUnavailable = errors.New("replication log unavailable")

// Log is the replication log of one replica.
type Log struct {
	rdb  *redis.Client
	m    *manager.Manager
	log  *slog.Logger
	self string // this replica's id, unique per process

	seq     atomic.Uint64
	mu      sync.Mutex
	waiters map[string]chan error // token -> result of applying that write here
	lastID  string                // last stream id applied (only the reader goroutine writes it)
	leader  bool
}

// Open connects to Redis (a redis:// URL) and loads the fleet: the latest
// snapshot, then every write logged after it.
func Open(ctx context.Context, url string, m *manager.Manager, log *slog.Logger) (*Log, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", url, err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", opts.Addr, err)
	}
	l := &Log{
		rdb: rdb, m: m, log: log, waiters: map[string]chan error{},
		self: fmt.Sprintf("%d-%d", time.Now().UnixNano(), opts.DB),
	}
	if err := l.restore(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) restore(ctx context.Context) error {
	id, err := l.rdb.Get(ctx, snapIDKey).Result()
	switch {
	case errors.Is(err, redis.Nil):
		id = "0-0"
	case err != nil:
		return fmt.Errorf("redis: %w", err)
	}
	saved, err := l.rdb.HGetAll(ctx, snapshotKey).Result()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	workers := make([]*musterv1.WorkerStatus, 0, len(saved))
	for wid, data := range saved {
		w := &musterv1.WorkerStatus{}
		if err := proto.Unmarshal([]byte(data), w); err != nil {
			return fmt.Errorf("redis snapshot of %q: %w", wid, err)
		}
		workers = append(workers, w)
	}
	l.m.Restore(workers)
	l.lastID = id
	// Replay what was logged after the snapshot.
	for {
		batch, err := l.read(ctx, -1)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		l.applyAll(batch)
	}
}

// Close releases the connection.
func (l *Log) Close() error { return l.rdb.Close() }

// Ping reports whether Redis is reachable.
func (l *Log) Ping(ctx context.Context) error { return l.rdb.Ping(ctx).Err() }

// Update logs an update and waits until this replica has applied it.
func (l *Log) Update(ctx context.Context, req *musterv1.ReportRequest) error {
	data, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	return l.submit(ctx, map[string]any{"u": data})
}

// Forget logs the forgetting of a worker.
func (l *Log) Forget(ctx context.Context, workerID string) error {
	return l.submit(ctx, map[string]any{"forget": workerID})
}

// SetAggregateMode logs a change of the legacy view mode.
func (l *Log) SetAggregateMode(ctx context.Context, on bool) error {
	return l.submit(ctx, map[string]any{"mode": strconv.FormatBool(on)})
}

func (l *Log) submit(ctx context.Context, fields map[string]any) error {
	token := l.self + ":" + strconv.FormatUint(l.seq.Add(1), 10)
	fields["token"] = token
	done := make(chan error, 1)
	l.mu.Lock()
	l.waiters[token] = done
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiters, token)
		l.mu.Unlock()
	}()
	err := l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: streamKey, MaxLen: streamCap, Approx: true, Values: fields}).Err()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	timer := time.NewTimer(applyTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w: the write was logged but not applied within %v", ErrUnavailable, applyTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read returns the next entries after lastID, waiting up to block for
// some (block < 0: do not wait).
func (l *Log) read(ctx context.Context, block time.Duration) ([]redis.XMessage, error) {
	args := &redis.XReadArgs{Streams: []string{streamKey, l.lastID}, Count: 1000, Block: block}
	res, err := l.rdb.XRead(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return res[0].Messages, nil
}

// applyAll applies entries in order and hands each of this replica's own
// writes its result.
func (l *Log) applyAll(batch []redis.XMessage) {
	for _, msg := range batch {
		err := l.apply(msg.Values)
		l.lastID = msg.ID
		token, _ := msg.Values["token"].(string)
		l.mu.Lock()
		if done, ok := l.waiters[token]; ok {
			done <- err
		}
		l.mu.Unlock()
	}
}

func (l *Log) apply(values map[string]any) error {
	switch {
	case values["u"] != nil:
		data, _ := values["u"].(string)
		req := &musterv1.ReportRequest{}
		if err := proto.Unmarshal([]byte(data), req); err != nil {
			return fmt.Errorf("replica: bad entry: %w", err)
		}
		return l.m.Apply(req)
	case values["forget"] != nil:
		id, _ := values["forget"].(string)
		return l.m.Forget(id)
	case values["mode"] != nil:
		on, _ := strconv.ParseBool(fmt.Sprint(values["mode"]))
		l.m.SetAggregateMode(on)
		return nil
	default:
		return errors.New("replica: empty entry")
	}
}

// Run follows the stream until ctx ends, applying every write, and keeps
// the snapshot while this replica holds the lease. It reconnects by itself
// when Redis goes away.
func (l *Log) Run(ctx context.Context) {
	next := time.Now().Add(snapshotEvery)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := l.read(ctx, 200*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("replication log read failed; retrying", "err", err, "in", backoff)
				sleep(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		l.applyAll(batch)
		if time.Now().After(next) {
			next = time.Now().Add(snapshotEvery)
			if err := l.snapshot(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("snapshot failed", "err", err)
			}
		}
	}
}

// snapshot writes the changes since the last call if this replica holds
// the lease. It runs between applies, so the state matches lastID exactly.
// A replica that has just taken the lease writes everything: it cannot know
// what the last holder saved (or whether Redis lost it in a restart).
func (l *Log) snapshot(ctx context.Context) error {
	puts, deletes := l.m.TakeChanges()
	held, fresh, err := l.holdLease(ctx)
	if err != nil || !held {
		l.leader = false
		return err
	}
	full := fresh || !l.leader
	if full {
		puts, deletes = l.m.All(), nil
	}
	_, err = l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if full {
			p.Del(ctx, snapshotKey)
		}
		for _, w := range puts {
			data, err := proto.Marshal(w)
			if err != nil {
				return err
			}
			p.HSet(ctx, snapshotKey, w.GetWorkerId(), data)
		}
		if len(deletes) > 0 {
			p.HDel(ctx, snapshotKey, deletes...)
		}
		p.Set(ctx, snapIDKey, l.lastID, 0)
		return nil
	})
	l.leader = err == nil
	return err
}

// holdLease takes or renews the snapshot lease; fresh reports a lease that
// was just taken rather than renewed.
func (l *Log) holdLease(ctx context.Context) (held, fresh bool, err error) {
	ok, err := l.rdb.SetNX(ctx, leaseKey, l.self, leaseTTL).Result()
	if err != nil || ok {
		return ok, ok, err
	}
	holder, err := l.rdb.Get(ctx, leaseKey).Result()
	if err != nil || holder != l.self {
		return false, false, nil
	}
	return true, false, l.rdb.PExpire(ctx, leaseKey, leaseTTL).Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
