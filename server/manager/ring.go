package manager

// ring is a fixed-capacity buffer that keeps the newest items. Its storage is
// allocated on the first push, so a worker that never reports an event costs
// nothing here.
type ring[T any] struct {
	capacity int
	items    []T
	next     int
	full     bool
}

func newRing[T any](capacity int) ring[T] {
	return ring[T]{capacity: capacity}
}

func (r *ring[T]) push(v T) {
	if r.capacity <= 0 {
		return
	}
	if r.items == nil {
		r.items = make([]T, r.capacity)
	}
	r.items[r.next] = v
	r.next++
	if r.next == r.capacity {
		r.next, r.full = 0, true
	}
}

func (r *ring[T]) len() int {
	if r.full {
		return r.capacity
	}
	return r.next
}

// newest returns up to n items, newest first; n < 0 means all.
func (r *ring[T]) newest(n int) []T {
	size := r.len()
	if n < 0 || n > size {
		n = size
	}
	out := make([]T, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, r.items[(r.next-1-i+r.capacity)%r.capacity])
	}
	return out
}
