package manager_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/musterhq/muster/server/manager"
)

// byteSource feeds the fuzzer's bytes to the random fleet, so that the
// fuzzer steers the sequence of operations. Past the end it continues with
// a fixed PRNG: a source stuck at one value would hang rand's rejection
// sampling.
type byteSource struct {
	data []byte
	rest *rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.data) < 8 {
		return s.rest.Uint64()
	}
	v := binary.LittleEndian.Uint64(s.data)
	s.data = s.data[8:]
	return v
}

// FuzzManagerOps runs fuzzer-chosen sequences of updates, events, clock
// jumps, forgets and restores, and after every step holds the manager to
// the model: in particular, the incrementally maintained aggregate must
// equal one recomputed from scratch.
func FuzzManagerOps(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("running workers, breakers opening, clocks jumping past stale_after and forget_after"))
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl := newFleet(t, 0, manager.Options{
			StaleAfter: staleAfter, ForgetAfter: 2 * time.Hour,
			ErrorsPerWorker: 2, LogsPerWorker: 2, CompletionsPerWorker: 2, FleetEvents: 4,
		})
		fl.rng = rand.New(&byteSource{data: data, rest: rand.NewPCG(uint64(len(data)), 1)})
		steps := min(len(data)/4+1, 300)
		for i := range steps {
			fl.step()
			fl.check()
			if i%50 == 49 {
				fl.checkRestore()
			}
		}
	})
}
