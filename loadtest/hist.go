package loadtest

import (
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets (16 per power of two, so
// within about 6%), which makes percentiles cheap to record and to merge.
// It is not safe for concurrent use: keep one per goroutine and Merge.
type Histogram struct {
	counts [1024]uint64
	n      uint64
	max    time.Duration
}

func bucketOf(ns uint64) int {
	if ns < 32 {
		return int(ns)
	}
	e := bits.Len64(ns) - 5
	return e*16 + int(ns>>e)
}

// bucketMid is the middle of bucket i, in nanoseconds.
func bucketMid(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	e := i/16 - 1
	low := uint64(i-e*16) << e
	return low + (uint64(1)<<e)/2
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the longest duration recorded.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the duration below which q (0..1) of the recorded
// durations fall; 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketMid(i)), h.max)
		}
	}
	return h.max
}
