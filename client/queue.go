package client

import (
	"cmp"
	"slices"
	"sync"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
)

// minQueueSize lets the newest extraction status and one other update fit,
// so that pushing never has to drop the update being pushed.
const minQueueSize = 2

// entry is one queued update. seq numbers every push, so Flush can tell
// whether what it waits for has been acknowledged.
type entry struct {
	seq uint64
	req *musterv1.ReportRequest
}

func isStatus(req *musterv1.ReportRequest) bool {
	_, ok := req.GetUpdate().(*musterv1.ReportRequest_ExtractionStatus)
	return ok
}

// queue is a bounded FIFO of updates that never blocks the pusher. When it
// is full the oldest entry goes, except the pending extraction status: a
// status replaces the worker's whole status on the server, so only the
// newest one matters and it must survive. At most one status is pending;
// a newer one supersedes it and takes its place at the back.
type queue struct {
	mu        sync.Mutex
	items     []entry // ordered by seq
	max       int
	seq       uint64 // seq of the newest push
	statusSeq uint64 // seq of the pending status in items, 0 if none
	dropped   uint64
	closed    bool
	ready     chan struct{} // signalled after a push
}

func newQueue(size int) *queue {
	return &queue{max: max(size, minQueueSize), ready: make(chan struct{}, 1)}
}

// push enqueues req and returns its seq (0 once the queue is closed).
func (q *queue) push(req *musterv1.ReportRequest) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.dropped++
		return 0
	}
	q.seq++
	e := entry{seq: q.seq, req: req}
	if isStatus(req) && q.statusSeq != 0 {
		q.remove(q.index(q.statusSeq)) // superseded, not lost: no drop counted
	}
	if len(q.items) >= q.max {
		q.dropOldest()
	}
	q.items = append(q.items, e)
	if isStatus(req) {
		q.statusSeq = e.seq
	}
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return e.seq
}

// take removes and returns up to n entries from the front.
func (q *queue) take(n int) []entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.items))
	if n == 0 {
		return nil
	}
	batch := slices.Clone(q.items[:n])
	clear(q.items[:n])
	q.items = q.items[n:]
	if q.statusSeq != 0 && q.statusSeq <= batch[n-1].seq {
		q.statusSeq = 0
	}
	return batch
}

// requeue puts entries that were taken but never acknowledged back at the
// front, so they are sent again on the next stream. They are older than
// everything queued, so they are the first to go if there is no room, and
// a requeued status loses to a newer pending one.
func (q *queue) requeue(entries []entry) {
	if len(entries) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	newest := q.statusSeq
	if newest == 0 {
		for _, e := range entries {
			if isStatus(e.req) {
				newest = e.seq
			}
		}
	}
	back := make([]entry, 0, len(entries)+len(q.items))
	for _, e := range entries {
		if isStatus(e.req) && e.seq != newest {
			continue // superseded
		}
		back = append(back, e)
	}
	q.items, q.statusSeq = append(back, q.items...), newest
	for len(q.items) > q.max {
		q.dropOldest()
	}
}

// dropOldest drops the oldest entry that is not the pending status. With
// max >= 2 and one status at most, that is the first or second entry.
func (q *queue) dropOldest() {
	i := 0
	if q.items[0].seq == q.statusSeq {
		i = 1
	}
	q.remove(i)
	q.dropped++
}

func (q *queue) remove(i int) {
	if q.items[i].seq == q.statusSeq {
		q.statusSeq = 0
	}
	if i == 0 {
		q.items[0] = entry{}
		q.items = q.items[1:]
		return
	}
	q.items = slices.Delete(q.items, i, i+1)
}

func (q *queue) index(seq uint64) int {
	i, _ := slices.BinarySearchFunc(q.items, seq, func(e entry, s uint64) int { return cmp.Compare(e.seq, s) })
	return i
}

// close makes later pushes count as dropped; what is queued stays.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// last returns the seq of the newest push.
func (q *queue) last() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.seq
}

func (q *queue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
