package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/proto"
)

const (
	// batchSize is how many updates the sender takes from the queue at once.
	batchSize = 64
	// idleAck closes a stream that has had nothing to send for this long.
	// The server acknowledges a stream only when it is closed, and a
	// stream left open would hold up the server's graceful stop.
	idleAck = 5 * time.Second
	// baseDelay and maxDelay bound the reconnect backoff.
	baseDelay = 100 * time.Millisecond
	maxDelay  = 10 * time.Second
	// maxMsgSize is the server's default receive limit; a bigger update
	// would fail the stream every time it is retried.
	maxMsgSize = 4 << 20
)

// sender drains the queue over one Report stream at a time. A stream stays
// open while there is traffic and is closed, which makes the server
// acknowledge everything written to it, on Flush, when idle, or when
// maxUnacked updates await acknowledgement. Updates written to a stream
// that fails are queued again and sent on the next one (at least once).
type sender struct {
	q          *queue
	rpc        musterv1.MonitoringServiceClient
	log        *slog.Logger
	maxUnacked int

	flush chan struct{} // wakes the sender when a Flush starts waiting
	done  chan struct{} // closed when run returns

	sent, rejected, discarded, reconnects atomic.Uint64
	inflight                              atomic.Int64

	mu    sync.Mutex
	acked uint64        // every update up to this seq was acknowledged, dropped or superseded
	ackCh chan struct{} // closed and replaced whenever acked advances
	want  uint64        // the newest seq a Flush waits for; it outlives failed streams
}

func newSender(q *queue, rpc musterv1.MonitoringServiceClient, log *slog.Logger) *sender {
	return &sender{
		q:          q,
		rpc:        rpc,
		log:        log,
		maxUnacked: q.max,
		flush:      make(chan struct{}, 1),
		done:       make(chan struct{}),
		ackCh:      make(chan struct{}),
	}
}

// run sends until ctx ends, reconnecting with backoff after failures.
func (s *sender) run(ctx context.Context) {
	defer close(s.done)
	failures := 0
	for {
		for s.q.len() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.q.ready:
			}
		}
		err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			if failures > 0 {
				s.log.Info("report stream restored", "failures", failures)
			}
			failures = 0
			continue
		}
		failures++
		s.reconnects.Add(1)
		d := retryDelay(failures)
		level := slog.LevelDebug // the first failure says it all
		if failures == 1 {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "report stream failed", "err", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session runs one stream until it is acknowledged (nil) or fails.
func (s *sender) session(ctx context.Context) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.rpc.Report(ctx)
	if err != nil {
		return err
	}
	var (
		unacked []entry
		last    uint64 // seq of the newest entry taken
		idled   bool
	)
	defer func() {
		if err != nil {
			s.q.requeue(unacked)
			s.inflight.Store(0)
		}
	}()
	idle := time.NewTimer(idleAck)
	defer idle.Stop()
	for {
		for len(unacked) < s.maxUnacked {
			batch := s.q.take(min(batchSize, s.maxUnacked-len(unacked)))
			if len(batch) == 0 {
				break
			}
			idle.Reset(idleAck)
			last = batch[len(batch)-1].seq
			for i, e := range batch {
				if !s.sendable(e.req) {
					continue
				}
				if err := stream.Send(e.req); err != nil {
					unacked = append(unacked, batch[i:]...)
					return streamErr(stream, err)
				}
				unacked = append(unacked, e)
				s.inflight.Store(int64(len(unacked)))
			}
		}
		if idled || len(unacked) >= s.maxUnacked || s.flushWanted() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.q.ready:
		case <-s.flush:
		case <-idle.C:
			idled = true
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	// Counters first: a Flush that returns must see them settled.
	s.sent.Add(uint64(len(unacked)))
	s.inflight.Store(0)
	if n := resp.GetRejected(); n > 0 {
		s.rejected.Add(uint64(n))
		s.log.Warn("server rejected updates", "rejected", n, "last_error", resp.GetLastError())
	}
	s.setAcked(last)
	return nil
}

// sendable reports whether req can go on the wire at all. One that cannot
// (invalid UTF-8, too big) would fail every stream it is retried on, so it
// is discarded and counted as dropped.
func (s *sender) sendable(req *musterv1.ReportRequest) bool {
	b, err := proto.Marshal(req)
	if err == nil && len(b) <= maxMsgSize {
		return true
	}
	if err == nil {
		err = errors.New("message too large")
	}
	s.discarded.Add(1)
	s.log.Warn("update discarded", "err", err)
	return false
}

// streamErr turns a failed Send into the stream's real status: Send only
// says io.EOF, the status comes from receiving.
func streamErr(stream musterv1.MonitoringService_ReportClient, err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := stream.CloseAndRecv(); rerr != nil {
			return rerr
		}
	}
	return err
}

func (s *sender) setAcked(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.acked {
		s.acked = seq
		close(s.ackCh)
		s.ackCh = make(chan struct{})
	}
}

func (s *sender) flushWanted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.want > s.acked
}

// waitAcked waits until every update up to seq has been acknowledged.
func (s *sender) waitAcked(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		s.want = max(s.want, seq)
		acked, changed := s.acked, s.ackCh
		s.mu.Unlock()
		if acked >= seq {
			return nil
		}
		select {
		case s.flush <- struct{}{}:
		default:
		}
		select {
		case <-changed:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// retryDelay is the wait after the n-th failure in a row: exponential, capped,
// with jitter so that a fleet does not reconnect in lockstep.
func retryDelay(n int) time.Duration {
	d := min(baseDelay<<min(n-1, 10), maxDelay)
	return d/2 + rand.N(d/2+1)
}
