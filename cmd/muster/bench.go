package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/musterhq/muster/loadtest"
	"github.com/musterhq/muster/server"
)

// benchConfig is muster bench's flags.
type benchConfig struct {
	httpURL, grpcAddr string
	pid               int
	start, baselines  bool
	together          bool
	transports        []loadtest.Transport
	kind              loadtest.Kind
	workers           int
	rate              float64
	senders, conns    int
	watchers          int
	fillEvents        int
	duration, warmup  time.Duration
	progress          time.Duration
	serve             string // child mode: "musterd", "rest" or "grpc"
	cpuProfile        string
	maxWorkers        int
}

func parseBench(args []string, stderr io.Writer) (benchConfig, error) {
	var c benchConfig
	var transports, kind string
	fs := flag.NewFlagSet("muster bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.httpURL, "http-url", "http://localhost:8000", "musterd HTTP base URL (ignored with --start)")
	fs.StringVar(&c.grpcAddr, "grpc-addr", "localhost:9090", "musterd gRPC address (ignored with --start)")
	fs.IntVar(&c.pid, "pid", 0, "pid of a musterd on this host, to report its CPU and RSS (automatic with --start)")
	fs.BoolVar(&c.start, "start", false, "start musterd as a child process on free ports, with the memory store")
	fs.BoolVar(&c.baselines, "baselines", false, "also run each transport against its baseline (plain net/http; bare grpc-go), started as child processes, and print musterd/baseline ratios")
	fs.StringVar(&transports, "transports", "rest,grpc,stream", "transports, comma-separated: rest (legacy JSON), grpc (unary), stream (Report)")
	fs.BoolVar(&c.together, "together", false, "run the transports together in one phase, sharing the workers, instead of one phase each (no baselines)")
	fs.StringVar(&kind, "kind", "status", "what each update reports: status, breakers or heartbeat")
	fs.IntVar(&c.workers, "workers", 1000, "simulated workers")
	fs.Float64Var(&c.rate, "rate", 0, "updates per second per worker (0: as fast as the server answers)")
	fs.IntVar(&c.senders, "senders", 32, "requests (rest, grpc) or streams (stream) in flight per transport")
	fs.IntVar(&c.conns, "conns", 2, "gRPC connections")
	fs.IntVar(&c.watchers, "watchers", 0, "Watch subscribers following musterd during its phases")
	fs.IntVar(&c.fillEvents, "fill-events", 0, "before measuring, send each worker n errors, 2n log lines and n completions (50 fills the default buffers)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured time per phase")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time per phase, after every worker reported once")
	fs.DurationVar(&c.progress, "progress", time.Second, "progress line interval (0: none)")
	fs.IntVar(&c.maxWorkers, "max-workers", 0, "--max-workers of a started musterd (default: enough for --workers)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the started musterd (its whole life) to this file")
	fs.StringVar(&c.serve, "serve", "", "internal: run as the child server musterd, rest or grpc")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "muster bench: unexpected argument %q\n", fs.Arg(0))
		return c, errors.New("unexpected arguments")
	}
	var err error
	if c.transports, err = loadtest.ParseTransports(transports); err != nil {
		fmt.Fprintln(stderr, "muster bench:", err)
		return c, err
	}
	if c.kind, err = loadtest.ParseKind(kind); err != nil {
		fmt.Fprintln(stderr, "muster bench:", err)
		return c, err
	}
	if c.maxWorkers <= 0 {
		c.maxWorkers = max(100_000, c.workers+1)
	}
	return c, nil
}

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseBench(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.serve != "" {
		if err := serveChild(ctx, c, stdout); err != nil {
			fmt.Fprintln(stderr, "muster bench:", err)
			return 1
		}
		return 0
	}
	if err := bench(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "muster bench:", err)
		return 1
	}
	return 0
}

// serveChild runs one server on free loopback ports, prints its addresses
// and serves until stdin closes (the parent is done or gone) or ctx ends.
func serveChild(ctx context.Context, c benchConfig, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	announce := func(httpAddr, grpcAddr net.Addr) {
		h, g := "", ""
		if httpAddr != nil {
			h = "http://" + httpAddr.String()
		}
		if grpcAddr != nil {
			g = grpcAddr.String()
		}
		fmt.Fprintf(stdout, "listening %s %s\n", h, g)
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch c.serve {
	case "musterd":
		return server.Run(ctx, server.Config{
			HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Store: "memory", MaxWorkers: c.maxWorkers,
			Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			OnListening: announce,
		})
	case "rest":
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: loadtest.RESTBaseline(), ReadHeaderTimeout: 10 * time.Second}
		go func() { <-ctx.Done(); srv.Close() }()
		announce(lis.Addr(), nil)
		if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	case "grpc":
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := loadtest.GRPCBaseline()
		go func() { <-ctx.Done(); srv.Stop() }()
		announce(nil, lis.Addr())
		return srv.Serve(lis)
	}
	return fmt.Errorf("unknown server %q", c.serve)
}

// child is a server started by startChild.
type child struct {
	target loadtest.Target
	cmd    *exec.Cmd
	stdin  io.Closer
}

// startChild starts this binary as a child server and waits for its
// addresses.
func startChild(ctx context.Context, name, kind string, c benchConfig) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "--serve=" + kind, fmt.Sprintf("--max-workers=%d", c.maxWorkers)}
	if kind == "musterd" && c.cpuProfile != "" {
		args = append(args, "--cpuprofile="+c.cpuProfile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: stdin, target: loadtest.Target{Name: name, PID: cmd.Process.Pid}}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	select {
	case line, ok := <-lines:
		fields := strings.Fields(line)
		if !ok || len(fields) < 2 || fields[0] != "listening" {
			ch.stop()
			return nil, fmt.Errorf("%s did not start (%q)", name, line)
		}
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "http://") {
				ch.target.HTTPURL = f
			} else {
				ch.target.GRPCAddr = f
			}
		}
		return ch, nil
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	ch.stop()
	return nil, fmt.Errorf("%s did not start", name)
}

func (ch *child) stop() {
	ch.stdin.Close()
	done := make(chan struct{})
	go func() { ch.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		ch.cmd.Process.Kill()
		<-done
	}
}

type phase struct {
	transports []loadtest.Transport
	result     loadtest.Result
}

func bench(ctx context.Context, c benchConfig, stdout, stderr io.Writer) error {
	musterd := loadtest.Target{Name: "musterd", HTTPURL: strings.TrimRight(c.httpURL, "/"), GRPCAddr: c.grpcAddr, PID: c.pid}
	if c.start {
		ch, err := startChild(ctx, "musterd", "musterd", c)
		if err != nil {
			return err
		}
		defer ch.stop()
		musterd = ch.target
	}
	var restBase, grpcBase loadtest.Target
	if c.baselines && !c.together {
		rest, err := startChild(ctx, "net/http", "rest", c)
		if err != nil {
			return err
		}
		defer rest.stop()
		grpcb, err := startChild(ctx, "grpc-go", "grpc", c)
		if err != nil {
			return err
		}
		defer grpcb.stop()
		restBase, grpcBase = rest.target, grpcb.target
	}

	rate := "unthrottled"
	if c.rate > 0 {
		rate = fmt.Sprintf("%g/s per worker", c.rate)
	}
	fmt.Fprintf(stdout, "muster bench: %d workers (%s updates, %s), %d senders per transport, %d watchers, %s measured after %s warm-up\n",
		c.workers, c.kind, rate, c.senders, c.watchers, c.duration, c.warmup)

	groups := [][]loadtest.Transport{c.transports}
	if !c.together {
		groups = nil
		for _, t := range c.transports {
			groups = append(groups, []loadtest.Transport{t})
		}
	}
	var phases []phase
	runPhase := func(target loadtest.Target, ts []loadtest.Transport, watchers, fill int) error {
		fmt.Fprintf(stdout, "%s over %s\n", target.Name, joinTransports(ts))
		cfg := loadtest.Config{
			Target: target, Transports: ts, Workers: c.workers, Rate: c.rate, Kind: c.kind,
			Senders: c.senders, Conns: c.conns, Watchers: watchers, FillEvents: fill,
			Warmup: c.warmup, Duration: c.duration, ProgressEvery: c.progress,
		}
		if c.progress > 0 {
			cfg.Progress = stdout
		}
		res, err := loadtest.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s over %s: %w", target.Name, joinTransports(ts), err)
		}
		phases = append(phases, phase{ts, res})
		return nil
	}
	fill := c.fillEvents
	for _, ts := range groups {
		if err := runPhase(musterd, ts, c.watchers, fill); err != nil {
			return err
		}
		fill = 0 // the buffers stay full
		if c.baselines && !c.together {
			base := grpcBase
			if ts[0] == loadtest.REST {
				base = restBase
			}
			if err := runPhase(base, ts, 0, 0); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(stdout)
	printResults(stdout, phases)
	if c.baselines && !c.together {
		fmt.Fprintln(stdout)
		printRatios(stdout, phases)
	}
	return nil
}

func joinTransports(ts []loadtest.Transport) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, "+")
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func printResults(w io.Writer, phases []phase) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\ttransport\tupdates/s\tp50\tp99\tserver cpu\tcpu/update\trss MB\tpeak MB\terrors\t")
	for _, p := range phases {
		r := p.result
		cpu, perUpdate, rss, hwm := "-", "-", "-", "-"
		if r.CPU > 0 || r.RSS > 0 {
			cpu = fmt.Sprintf("%.0f%%", 100*r.CPU.Seconds()/r.Elapsed.Seconds())
			perUpdate = fmt.Sprintf("%.1fµs", float64(r.CPUPerUpdate())/float64(time.Microsecond))
			rss, hwm = fmt.Sprint(r.RSS>>20), fmt.Sprint(r.HWM>>20)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", r.Target, joinTransports(p.transports), r.Throughput(),
			ms(r.Latency.Quantile(.5)), ms(r.Latency.Quantile(.99)), cpu, perUpdate, rss, hwm, r.Errors)
	}
	tw.Flush()
	for _, p := range phases {
		r := p.result
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s over %s: first error: %s\n", r.Target, joinTransports(p.transports), r.FirstError)
		}
		if r.ProcErrors != "" {
			fmt.Fprintf(w, "%s: reading /proc: %s\n", r.Target, r.ProcErrors)
		}
		if ws := r.Watch; ws.Subscribers > 0 {
			fmt.Fprintf(w, "%s over %s: %d watchers got %d messages (%.0f/s); update→watcher p50 %s p99 %s max %s over %d samples; %d resyncs, %d unmatched\n",
				r.Target, joinTransports(p.transports), ws.Subscribers, ws.Messages, float64(ws.Messages)/r.Elapsed.Seconds(),
				ms(ws.Latency.Quantile(.5)), ms(ws.Latency.Quantile(.99)), ms(ws.Latency.Max()), ws.Latency.Count(), ws.Resyncs, ws.Unmatched)
		}
	}
}

// printRatios prints musterd / baseline for each transport: throughput
// (higher is better) and server CPU per update (lower is better).
func printRatios(w io.Writer, phases []phase) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tbaseline\tthroughput musterd/baseline\tcpu per update musterd/baseline\t")
	for i := 0; i+1 < len(phases); i += 2 {
		m, b := phases[i].result, phases[i+1].result
		tput := "-"
		if b.Throughput() > 0 {
			tput = fmt.Sprintf("%.2f×", m.Throughput()/b.Throughput())
		}
		cpu := "-"
		if b.CPUPerUpdate() > 0 {
			cpu = fmt.Sprintf("%.2f×", float64(m.CPUPerUpdate())/float64(b.CPUPerUpdate()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", joinTransports(phases[i].transports), b.Target, tput, cpu)
	}
	tw.Flush()
}
