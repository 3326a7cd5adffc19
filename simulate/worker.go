package simulate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// reporter is how a simulated worker reports: the Go client or legacy REST.
type reporter interface {
	status(*musterv1.ExtractionStatus)
	breakers(map[string]*musterv1.CircuitBreaker)
	performance(*musterv1.PerformanceMetrics)
	error(*musterv1.ErrorEvent)
	log(level, message string)
	completion(*musterv1.CompletedExtraction)
}

var dioceses = []string{
	"Archdiocese of Atlanta", "Diocese of Boston", "Diocese of Erie", "Archdiocese of Chicago",
	"Diocese of Fresno", "Archdiocese of Denver", "Diocese of Savannah", "Diocese of Tucson",
	"Archdiocese of Seattle", "Diocese of Wichita", "Diocese of Albany", "Archdiocese of Omaha",
}

// breaker is a simulated circuit breaker: it opens after three failures in
// a row, lets a trial through after a cool-down, and closes on success.
type breaker struct {
	name                                   string
	failRate                               float64
	state                                  musterv1.BreakerState
	requests, successes, failures, blocked int64
	streak, cooldown                       int
}

// call makes one request through the breaker; it reports whether the
// request succeeded and whether the breaker changed state.
func (b *breaker) call(rng *rand.Rand) (ok, changed bool) {
	before := b.state
	if b.state == musterv1.BreakerState_BREAKER_STATE_OPEN {
		b.blocked++
		if b.cooldown--; b.cooldown <= 0 {
			b.state = musterv1.BreakerState_BREAKER_STATE_HALF_OPEN
		}
		return false, b.state != before
	}
	b.requests++
	if rng.Float64() >= b.failRate {
		b.successes++
		b.streak = 0
		b.state = musterv1.BreakerState_BREAKER_STATE_CLOSED
		return true, b.state != before
	}
	b.failures++
	b.streak++
	if b.streak >= 3 || b.state == musterv1.BreakerState_BREAKER_STATE_HALF_OPEN {
		b.state, b.cooldown = musterv1.BreakerState_BREAKER_STATE_OPEN, 4
	}
	return false, b.state != before
}

func (b *breaker) snapshot() *musterv1.CircuitBreaker {
	rate := 0.0
	if b.requests > 0 {
		rate = float64(b.successes) / float64(b.requests) * 100
	}
	return &musterv1.CircuitBreaker{
		State: b.state, TotalRequests: b.requests, TotalSuccesses: b.successes,
		TotalFailures: b.failures, TotalBlocked: b.blocked, SuccessRate: rate,
	}
}

type worker struct {
	cfg      Config
	rng      *rand.Rand
	rep      reporter
	breakers []*breaker
}

func newWorker(cfg Config, rng *rand.Rand, rep reporter) *worker {
	closed := musterv1.BreakerState_BREAKER_STATE_CLOSED
	return &worker{cfg: cfg, rng: rng, rep: rep, breakers: []*breaker{
		{name: "diocese_page_load", failRate: 0.03, state: closed},
		{name: "parish_detail_load", failRate: 0.08, state: closed},
		{name: "webdriver_requests", failRate: 0.15, state: closed},
	}}
}

// sleep waits about one step (±50%); false when ctx ended.
func (w *worker) sleep(ctx context.Context) bool {
	d := time.Duration(float64(w.cfg.Step) * (0.5 + w.rng.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *worker) reportBreakers() {
	out := make(map[string]*musterv1.CircuitBreaker, len(w.breakers))
	for _, b := range w.breakers {
		out[b.name] = b.snapshot()
	}
	w.rep.breakers(out)
}

// run goes through extraction cycles until ctx ends.
func (w *worker) run(ctx context.Context) {
	w.reportBreakers()
	w.rep.log("INFO", "Circuit breakers initialized")
	for ctx.Err() == nil {
		if !w.extract(ctx) {
			return
		}
		for range 1 + w.rng.IntN(3) { // a short idle spell between dioceses
			if !w.sleep(ctx) {
				return
			}
		}
	}
}

// extract works through one diocese; false when ctx ended mid-way.
func (w *worker) extract(ctx context.Context) bool {
	diocese := dioceses[w.rng.IntN(len(dioceses))]
	total := int64(5 + w.rng.IntN(36))
	started := time.Now()
	var processed, ok int64
	status := func(state musterv1.ExtractionState) *musterv1.ExtractionStatus {
		st := &musterv1.ExtractionStatus{Status: state}
		if state != musterv1.ExtractionState_EXTRACTION_STATE_RUNNING {
			return st
		}
		st.CurrentDiocese = &diocese
		st.ParishesProcessed, st.TotalParishes = processed, total
		st.ProgressPercentage = float64(processed) / float64(total) * 100
		st.StartedAt = timestamppb.New(started)
		if processed > 0 {
			st.SuccessRate = float64(ok) / float64(processed) * 100
			perParish := time.Since(started) / time.Duration(processed)
			st.EstimatedCompletion = timestamppb.New(time.Now().Add(perParish * time.Duration(total-processed)))
		}
		return st
	}
	finish := func(outcome string) {
		rate := 0.0
		if processed > 0 {
			rate = float64(ok) / float64(processed) * 100
		}
		w.rep.status(status(musterv1.ExtractionState_EXTRACTION_STATE_IDLE))
		w.rep.completion(&musterv1.CompletedExtraction{
			DioceseName: diocese, ParishesExtracted: ok, SuccessRate: rate,
			Duration: time.Since(started).Seconds(), Status: outcome,
		})
		w.rep.log("INFO", fmt.Sprintf("Completed %s: %d parishes, %.1f%% success", diocese, ok, rate))
	}

	w.rep.status(status(musterv1.ExtractionState_EXTRACTION_STATE_RUNNING))
	w.rep.log("INFO", fmt.Sprintf("Started extraction for %s (%d parishes)", diocese, total))
	failAt := int64(-1)
	if w.rng.Float64() < 0.05 { // now and then a whole extraction fails
		failAt = 1 + w.rng.Int64N(total)
	}
	for processed < total {
		if !w.sleep(ctx) {
			return false
		}
		processed++
		if processed == failAt {
			w.rep.error(&musterv1.ErrorEvent{Type: "ExtractionError", Message: "Extraction failed: directory page returned 503", Diocese: &diocese, Severity: "error"})
			finish("failed")
			return true
		}
		success := true
		for _, b := range w.breakers {
			passed, changed := b.call(w.rng)
			success = success && passed
			if changed {
				w.breakerChanged(b)
			}
		}
		if success {
			ok++
		} else if w.rng.Float64() < 0.3 {
			w.rep.error(&musterv1.ErrorEvent{Type: "ParishExtractionError", Message: fmt.Sprintf("Parish %d of %s failed", processed, diocese), Diocese: &diocese, Severity: "warning"})
		}
		w.rep.status(status(musterv1.ExtractionState_EXTRACTION_STATE_RUNNING))
		if processed%3 == 0 {
			w.reportBreakers()
		}
		if processed%5 == 0 {
			w.rep.log("INFO", fmt.Sprintf("Progress: %d/%d parishes (%.1f%%)", processed, total, float64(processed)/float64(total)*100))
			w.rep.performance(&musterv1.PerformanceMetrics{
				ParishesPerMinute:  float64(processed) / time.Since(started).Minutes(),
				QueueSize:          total - processed,
				PoolUtilization:    40 + w.rng.Float64()*50,
				TotalRequests:      w.breakers[1].requests,
				SuccessfulRequests: w.breakers[1].successes,
			})
		}
	}
	finish("completed")
	return true
}

func (w *worker) breakerChanged(b *breaker) {
	switch b.state {
	case musterv1.BreakerState_BREAKER_STATE_OPEN:
		w.rep.error(&musterv1.ErrorEvent{Type: "CircuitBreakerOpen", Message: fmt.Sprintf("Circuit breaker '%s' opened: %d consecutive failures", b.name, b.streak), Severity: "warning"})
		w.rep.log("WARNING", fmt.Sprintf("Circuit breaker '%s' OPEN", b.name))
	case musterv1.BreakerState_BREAKER_STATE_CLOSED:
		w.rep.log("INFO", fmt.Sprintf("Circuit breaker '%s' CLOSED - service recovered", b.name))
	}
	w.reportBreakers()
}
