package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Transport is how updates reach the server.
type Transport string

// The transports.
const (
	REST   Transport = "rest"   // legacy-shaped JSON POSTs to the worker-scoped REST paths
	Unary  Transport = "grpc"   // one unary gRPC call per update
	Stream Transport = "stream" // the client-streaming Report RPC, one stream per sender
)

// ParseTransports reads a comma-separated list of transports.
func ParseTransports(s string) ([]Transport, error) {
	var out []Transport
	for _, name := range strings.Split(s, ",") {
		switch t := Transport(strings.TrimSpace(name)); t {
		case REST, Unary, Stream:
			out = append(out, t)
		default:
			return nil, fmt.Errorf("unknown transport %q (want rest, grpc or stream)", name)
		}
	}
	return out, nil
}

// Target is the server under load.
type Target struct {
	// Name labels the results ("musterd", "net/http", "grpc-go").
	Name string
	// HTTPURL is the REST base URL; GRPCAddr the gRPC address.
	HTTPURL, GRPCAddr string
	// PID, when positive, is the server's process on this host, sampled
	// from /proc for CPU and memory.
	PID int
}

// Config is one load phase.
type Config struct {
	Target Target
	// Transports share the workers between them, round robin.
	Transports []Transport
	// Workers is the simulated fleet's size.
	Workers int
	// Rate is each worker's updates per second; 0 sends as fast as the
	// server answers.
	Rate float64
	// Kind is what each update reports. Default KindStatus.
	Kind Kind
	// Senders is how many requests (REST, unary) or streams each transport
	// keeps in flight. Default 32.
	Senders int
	// Conns is how many gRPC connections the senders share. Default 2.
	Conns int
	// Watchers is how many Watch subscribers follow the server during the
	// phase (gRPC; musterd only).
	Watchers int
	// FillEvents fills every worker's event buffers (errors, logs,
	// completions, this many of each kind ×1, ×2, ×1) before measuring.
	FillEvents int
	// Warmup runs the load unmeasured, after every worker has reported
	// once; Duration is the measured part.
	Warmup, Duration time.Duration
	// Progress, if set, receives a line every ProgressEvery (default 1s).
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (c *Config) setDefaults() {
	if c.Kind == "" {
		c.Kind = KindStatus
	}
	if c.Senders <= 0 {
		c.Senders = 32
	}
	if c.Conns <= 0 {
		c.Conns = 2
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
}

// Result is what one phase measured.
type Result struct {
	Target     string
	Transports []Transport
	Workers    int
	// Updates were accepted in Elapsed; Errors failed.
	Updates, Errors int64
	Elapsed         time.Duration
	FirstError      string
	// Latency is per request (REST and unary; a stream's updates are not
	// answered one by one).
	Latency Histogram
	// Watch is the update→subscriber latency and what the subscribers got.
	Watch WatchStats
	// Server resource use over the measured part (zero without a PID).
	CPU        time.Duration
	RSS, HWM   int64
	ProcErrors string
}

// WatchStats describe the subscribers of a phase.
type WatchStats struct {
	Subscribers int
	// Latency from a tracked update being sent to a subscriber receiving
	// the worker_changed that carries it.
	Latency Histogram
	// Messages received while measuring; Resyncs are snapshots after the
	// first (the subscriber fell behind the feed); Unmatched are
	// worker_changed messages whose update could no longer be matched.
	Messages, Resyncs, Unmatched int64
}

// Throughput is accepted updates per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Updates) / r.Elapsed.Seconds()
}

// CPUPerUpdate is server CPU time per accepted update.
func (r *Result) CPUPerUpdate() time.Duration {
	if r.Updates == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Updates)
}

// tracker remembers when each worker's recent updates were sent, so that a
// watcher can tell how long one took to reach it. Each slot is a seqlock.
type tracker struct{ slots []slot }

type slot struct{ seq, at atomic.Int64 }

const trackDepth = 8

func newTracker(workers int) *tracker { return &tracker{slots: make([]slot, workers*trackDepth)} }

func (t *tracker) sent(worker int, seq int64, at time.Time) {
	s := &t.slots[worker*trackDepth+int(seq%trackDepth)]
	s.seq.Store(-1)
	s.at.Store(at.UnixNano())
	s.seq.Store(seq)
}

func (t *tracker) sentAt(worker int, seq int64) (time.Time, bool) {
	if worker < 0 || worker*trackDepth >= len(t.slots) {
		return time.Time{}, false
	}
	s := &t.slots[worker*trackDepth+int(seq%trackDepth)]
	s1 := s.seq.Load()
	at := s.at.Load()
	if s1 != seq || s.seq.Load() != seq {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// run is the state shared by one phase's goroutines.
type run struct {
	cfg       Config
	conns     []*grpc.ClientConn
	http      *http.Client
	track     *tracker
	measuring atomic.Bool
	stopping  atomic.Bool
	sent      atomic.Int64 // updates sent since the phase started (progress)

	mu        sync.Mutex
	res       Result
	firstErr  error
	watchWait sync.WaitGroup // subscribers that have their snapshot
}

func (r *run) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Errors++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// Run runs one load phase against cfg.Target and returns what it measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.setDefaults()
	r := &run{cfg: cfg, track: newTracker(cfg.Workers)}
	r.res = Result{Target: cfg.Target.Name, Transports: cfg.Transports, Workers: cfg.Workers}
	r.res.Watch.Subscribers = cfg.Watchers
	needGRPC := cfg.Watchers > 0 || cfg.FillEvents > 0
	for _, t := range cfg.Transports {
		needGRPC = needGRPC || t != REST
	}
	if needGRPC {
		for range cfg.Conns {
			conn, err := grpc.NewClient(cfg.Target.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return r.res, err
			}
			defer conn.Close()
			r.conns = append(r.conns, conn)
		}
	}
	r.http = &http.Client{Transport: &http.Transport{
		MaxIdleConns: cfg.Senders * 2, MaxIdleConnsPerHost: cfg.Senders * 2, MaxConnsPerHost: cfg.Senders * 2,
		DisableCompression: true,
	}}
	defer r.http.CloseIdleConnections()

	// Every worker reports once, over the first transport, so the fleet
	// exists before anything is measured; then its event buffers are filled.
	if err := r.prime(ctx); err != nil {
		return r.res, fmt.Errorf("registering %d workers: %w", cfg.Workers, err)
	}
	if cfg.FillEvents > 0 {
		if err := r.fill(ctx); err != nil {
			return r.res, fmt.Errorf("filling event buffers: %w", err)
		}
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watchers sync.WaitGroup
	watchStats := make([]*watcherStats, cfg.Watchers)
	r.watchWait.Add(cfg.Watchers)
	for i := range cfg.Watchers {
		watchStats[i] = &watcherStats{}
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			r.watch(ctx, r.conns[i%len(r.conns)], watchStats[i])
		}()
	}
	r.watchWait.Wait()

	// Senders: each owns the workers w with w % total == its index.
	var senders sync.WaitGroup
	total := len(cfg.Transports) * cfg.Senders
	stats := make([]*senderStats, total)
	measureStart := make(chan struct{})
	for k := range total {
		t := cfg.Transports[k%len(cfg.Transports)]
		var mine []int
		for w := k; w < cfg.Workers; w += total {
			mine = append(mine, w)
		}
		if len(mine) == 0 {
			continue
		}
		stats[k] = &senderStats{}
		senders.Add(1)
		go func() {
			defer senders.Done()
			r.send(ctx, t, k, mine, stats[k], measureStart)
		}()
	}

	start := time.Now()
	progressDone := make(chan struct{})
	go r.progress(start, progressDone)
	sleep(ctx, cfg.Warmup)
	before, procErr := r.sample()
	r.measuring.Store(true)
	measured := time.Now()
	close(measureStart)
	sleep(ctx, cfg.Duration)
	r.stopping.Store(true)
	senders.Wait()
	r.measuring.Store(false)
	elapsed := time.Since(measured)
	after, procErr2 := r.sample()
	cancel()
	watchers.Wait()
	close(progressDone)

	res := &r.res
	res.Elapsed = elapsed
	for _, s := range stats {
		if s != nil {
			res.Updates += s.updates
			res.Latency.Merge(&s.latency)
		}
	}
	for _, w := range watchStats {
		res.Watch.Latency.Merge(&w.latency)
		res.Watch.Messages += w.messages
		res.Watch.Resyncs += w.resyncs
		res.Watch.Unmatched += w.unmatched
	}
	if err := errors.Join(procErr, procErr2); err != nil {
		res.ProcErrors = err.Error()
	} else if cfg.Target.PID > 0 {
		res.CPU = after.CPU - before.CPU
		res.RSS, res.HWM = after.RSS, after.HWM
	}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	return *res, parent.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *run) sample() (ProcSample, error) {
	if r.cfg.Target.PID <= 0 {
		return ProcSample{}, nil
	}
	return ReadProc(r.cfg.Target.PID)
}

func (r *run) progress(start time.Time, done <-chan struct{}) {
	if r.cfg.Progress == nil {
		return
	}
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	last, lastAt := r.sent.Load(), start
	var lastCPU ProcSample
	if r.cfg.Target.PID > 0 {
		lastCPU, _ = ReadProc(r.cfg.Target.PID)
	}
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			n := r.sent.Load()
			line := fmt.Sprintf("  %-8s %5.1fs  %9.0f updates/s", r.cfg.Target.Name, now.Sub(start).Seconds(), float64(n-last)/now.Sub(lastAt).Seconds())
			if r.cfg.Target.PID > 0 {
				if p, err := ReadProc(r.cfg.Target.PID); err == nil {
					line += fmt.Sprintf("  server cpu %4.0f%%  rss %4d MB", 100*(p.CPU-lastCPU.CPU).Seconds()/p.At.Sub(lastCPU.At).Seconds(), p.RSS>>20)
					lastCPU = p
				}
			}
			if !r.measuring.Load() {
				line += "  (warming up)"
			}
			fmt.Fprintln(r.cfg.Progress, line)
			last, lastAt = n, now
		}
	}
}

type senderStats struct {
	updates int64
	latency Histogram
}

// pacer spaces a sender's updates to rate per second; rate 0 never waits.
type pacer struct {
	rate  float64
	start time.Time
	n     int64
}

func (p *pacer) wait(ctx context.Context) {
	if p.rate <= 0 {
		return
	}
	p.n++
	due := p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))
	d := time.Until(due)
	if d < -time.Second { // far behind: do not burst to catch up
		p.start, p.n = time.Now(), 0
		return
	}
	sleep(ctx, d)
}

// send drives one sender's workers over t until the phase stops.
func (r *run) send(ctx context.Context, t Transport, k int, workers []int, st *senderStats, measureStart <-chan struct{}) {
	seqs := make([]int64, len(workers))
	for i := range seqs {
		seqs[i] = 1 // prime sent 1
	}
	p := &pacer{rate: r.cfg.Rate * float64(len(workers)), start: time.Now()}
	next := 0
	nextUpdate := func() (int, int64) {
		w := workers[next]
		seqs[next]++
		seq := seqs[next]
		next = (next + 1) % len(workers)
		return w, seq
	}
	switch t {
	case Stream:
		r.sendStream(ctx, k, st, measureStart, p, nextUpdate)
		return
	case Unary:
		client := musterv1.NewMonitoringServiceClient(r.conns[k%len(r.conns)])
		for !r.stopping.Load() && ctx.Err() == nil {
			p.wait(ctx)
			w, seq := nextUpdate()
			begin := time.Now()
			r.track.sent(w, seq, begin)
			err := unary(ctx, client, r.cfg.Kind, w, seq)
			r.done(ctx, st, begin, err)
		}
	case REST:
		var body []byte
		for !r.stopping.Load() && ctx.Err() == nil {
			p.wait(ctx)
			w, seq := nextUpdate()
			body = appendLegacyJSON(body[:0], r.cfg.Kind, w, seq)
			begin := time.Now()
			r.track.sent(w, seq, begin)
			err := r.post(ctx, restPath(r.cfg.Kind, w), body)
			r.done(ctx, st, begin, err)
		}
	}
}

func (r *run) done(ctx context.Context, st *senderStats, begin time.Time, err error) {
	r.sent.Add(1)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(err)
		}
		return
	}
	if r.measuring.Load() {
		st.updates++
		st.latency.Record(time.Since(begin))
	}
}

// sendStream sends over Report streams: one for the warm-up, then a new one
// for the measured part, whose accepted count (after the server drained it)
// is what counts.
func (r *run) sendStream(ctx context.Context, k int, st *senderStats, measureStart <-chan struct{}, p *pacer, next func() (int, int64)) {
	client := musterv1.NewMonitoringServiceClient(r.conns[k%len(r.conns)])
	measured := false
	for {
		stream, err := client.Report(ctx)
		if err != nil {
			r.fail(err)
			return
		}
	sending:
		for !r.stopping.Load() && ctx.Err() == nil {
			if !measured {
				select {
				case <-measureStart:
					break sending
				default:
				}
			}
			p.wait(ctx)
			w, seq := next()
			r.track.sent(w, seq, time.Now())
			if err := stream.Send(reportMsg(r.cfg.Kind, w, seq)); err != nil {
				break
			}
			r.sent.Add(1)
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			r.fail(err)
		}
		if measured {
			st.updates += resp.GetAccepted()
			if n := resp.GetRejected(); n > 0 {
				r.fail(fmt.Errorf("%d streamed updates rejected: %s", n, resp.GetLastError()))
			}
			return
		}
		if r.stopping.Load() || ctx.Err() != nil {
			return
		}
		measured = true
	}
}

func unary(ctx context.Context, c musterv1.MonitoringServiceClient, kind Kind, w int, seq int64) error {
	id := WorkerID(w)
	var err error
	switch kind {
	case KindBreakers:
		_, err = c.UpdateCircuitBreakers(ctx, &musterv1.UpdateCircuitBreakersRequest{WorkerId: id, CircuitBreakers: breakersMsg(w, seq)})
	case KindHeartbeat:
		_, err = c.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: id, WorkerType: "bench"})
	default:
		_, err = c.UpdateExtractionStatus(ctx, &musterv1.UpdateExtractionStatusRequest{WorkerId: id, Status: statusMsg(w, seq)})
	}
	return err
}

func (r *run) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.Target.HTTPURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(data))
	}
	return nil
}

// prime has every worker report once (sequence number 1), concurrently,
// over the phase's first transport.
func (r *run) prime(ctx context.Context) error {
	t := r.cfg.Transports[0]
	var wg sync.WaitGroup
	errc := make(chan error, r.cfg.Senders)
	for k := range r.cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch t {
			case Stream:
				err = r.streamAll(ctx, k, func(w int) []*musterv1.ReportRequest {
					return []*musterv1.ReportRequest{reportMsg(r.cfg.Kind, w, 1)}
				})
			default:
				var client musterv1.MonitoringServiceClient
				if len(r.conns) > 0 {
					client = musterv1.NewMonitoringServiceClient(r.conns[k%len(r.conns)])
				}
				var body []byte
				for w := k; w < r.cfg.Workers && err == nil; w += r.cfg.Senders {
					r.track.sent(w, 1, time.Now())
					if t == Unary {
						err = unary(ctx, client, r.cfg.Kind, w, 1)
					} else {
						body = appendLegacyJSON(body[:0], r.cfg.Kind, w, 1)
						err = r.post(ctx, restPath(r.cfg.Kind, w), body)
					}
				}
			}
			if err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// fill sends every worker's event-buffer load over Report streams.
func (r *run) fill(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, r.cfg.Senders)
	n := r.cfg.FillEvents
	for k := range r.cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.streamAll(ctx, k, func(w int) []*musterv1.ReportRequest { return eventMsgs(w, n, 2*n, n) }); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// streamAll sends msgs(w) for each worker w of sender k over one stream.
func (r *run) streamAll(ctx context.Context, k int, msgs func(w int) []*musterv1.ReportRequest) error {
	if len(r.conns) == 0 {
		return errors.New("no gRPC connection")
	}
	stream, err := musterv1.NewMonitoringServiceClient(r.conns[k%len(r.conns)]).Report(ctx)
	if err != nil {
		return err
	}
	for w := k; w < r.cfg.Workers; w += r.cfg.Senders {
		r.track.sent(w, 1, time.Now())
		for _, m := range msgs(w) {
			if err := stream.Send(m); err != nil {
				break // CloseAndRecv reports why
			}
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if resp.GetRejected() > 0 {
		return fmt.Errorf("%d updates rejected: %s", resp.GetRejected(), resp.GetLastError())
	}
	return nil
}

type watcherStats struct {
	latency                      Histogram
	messages, resyncs, unmatched int64
}

// watch follows the server's Watch stream until ctx ends.
func (r *run) watch(ctx context.Context, conn *grpc.ClientConn, st *watcherStats) {
	ready := false
	defer func() {
		if !ready {
			r.watchWait.Done()
		}
	}()
	stream, err := musterv1.NewMonitoringServiceClient(conn).Watch(ctx, &musterv1.WatchRequest{})
	if err != nil {
		r.fail(err)
		return
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("watch: %w", err))
			}
			return
		}
		now := time.Now()
		measuring := r.measuring.Load()
		if measuring {
			st.messages++
		}
		switch ev := msg.GetEvent().(type) {
		case *musterv1.WatchResponse_Snapshot:
			if !ready {
				ready = true
				r.watchWait.Done()
			} else if measuring {
				st.resyncs++
			}
		case *musterv1.WatchResponse_WorkerChanged:
			if !measuring {
				continue
			}
			s := ev.WorkerChanged
			seq := s.GetParishesProcessed()
			if r.cfg.Kind != KindStatus {
				continue
			}
			if at, ok := r.track.sentAt(workerIndex(s.GetWorkerId()), seq); ok {
				st.latency.Record(now.Sub(at))
			} else {
				st.unmatched++
			}
		}
	}
}
