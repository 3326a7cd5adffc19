package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Defaults of WithQueueSize and WithHeartbeatInterval.
const (
	DefaultQueueSize         = 1024
	DefaultHeartbeatInterval = 30 * time.Second
)

// closeTimeout bounds the flush in Close.
const closeTimeout = 2 * time.Second

// Errors the client returns; server errors are mapped onto them so that
// callers can use errors.Is, while status.Code still sees the gRPC code.
var (
	// ErrNotFound means the server does not know the worker.
	ErrNotFound = errors.New("client: not found")
	// ErrInvalidArgument means the server (or New) refused a value.
	ErrInvalidArgument = errors.New("client: invalid argument")
	// ErrClosed means the client was closed before the call could finish.
	ErrClosed = errors.New("client: closed")
)

// Client reports one worker's state to a Muster server. Updates go into a
// bounded queue and a background sender streams them to the server, so
// reporting never blocks the worker, even when the server is down.
// A Client is safe for concurrent use.
type Client struct {
	id         string
	workerType string
	now        func() time.Time

	conn *grpc.ClientConn
	rpc  musterv1.MonitoringServiceClient
	q    *queue
	s    *sender

	stopHeartbeats context.CancelFunc
	stopSender     context.CancelFunc
	wg             sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

type config struct {
	workerID   string
	workerType string
	tls        *tls.Config
	useTLS     bool
	token      string
	queueSize  int
	heartbeat  time.Duration
	logger     *slog.Logger
	dialOpts   []grpc.DialOption
	now        func() time.Time
}

// Option configures New.
type Option func(*config)

// WithWorkerID names the worker. Default: $WORKER_ID, else $HOSTNAME, else
// os.Hostname (a Kubernetes pod's name).
func WithWorkerID(id string) Option { return func(c *config) { c.workerID = id } }

// WithWorkerType states the worker's type ("discovery", "extraction", ...)
// in heartbeats and log lines. Default none.
func WithWorkerType(t string) Option { return func(c *config) { c.workerType = t } }

// WithTLS dials with TLS. A nil config uses the system defaults.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls, c.useTLS = cfg, true }
}

// WithInsecure dials without TLS. This is the default for now.
func WithInsecure() Option { return func(c *config) { c.tls, c.useTLS = nil, false } }

// WithToken sends "authorization: Bearer <token>" with every call. It is
// allowed without TLS for now.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithQueueSize sets how many updates may wait for the server before the
// oldest are dropped. Default 1024; at least 2.
func WithQueueSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.queueSize = n
		}
	}
}

// WithHeartbeatInterval sets how often a heartbeat is sent. Default 30s;
// zero or less disables heartbeats.
func WithHeartbeatInterval(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// WithLogger sets where the client logs connection trouble. Default
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithDialOptions adds options to grpc.NewClient, after the client's own
// (so they win); tests use it for bufconn.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOpts = append(c.dialOpts, opts...) }
}

// withClock replaces time.Now, for tests of the extraction helper.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// New returns a client for the server at addr ("host:port"). It does not
// connect: the connection is made in the background when there is
// something to send, so New succeeds while the server is down.
func New(addr string, opts ...Option) (*Client, error) {
	cfg := config{
		queueSize: DefaultQueueSize,
		heartbeat: DefaultHeartbeatInterval,
		logger:    slog.Default(),
		now:       time.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if cfg.workerID == "" {
		cfg.workerID = defaultWorkerID(os.Getenv, os.Hostname)
	}
	if err := checkWorkerID(cfg.workerID); err != nil {
		return nil, err
	}

	creds := insecure.NewCredentials()
	if cfg.useTLS {
		creds = credentials.NewTLS(cfg.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// gRPC's own reconnect backoff grows to 2 minutes; keep it in
		// step with the sender's so a restarted server is found quickly.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: baseDelay, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxDelay},
			MinConnectTimeout: 20 * time.Second,
		}),
	}
	if cfg.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer(cfg.token)))
	}
	conn, err := grpc.NewClient(addr, append(dial, cfg.dialOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	c := &Client{
		id:         cfg.workerID,
		workerType: cfg.workerType,
		now:        cfg.now,
		conn:       conn,
		rpc:        musterv1.NewMonitoringServiceClient(conn),
		q:          newQueue(cfg.queueSize),
	}
	c.s = newSender(c.q, c.rpc, cfg.logger.With("worker_id", c.id))

	var ctx context.Context
	ctx, c.stopSender = context.WithCancel(context.Background())
	c.wg.Go(func() { c.s.run(ctx) })
	hbCtx, stop := context.WithCancel(context.Background())
	c.stopHeartbeats = stop
	if cfg.heartbeat > 0 {
		c.wg.Go(func() { c.heartbeats(hbCtx, cfg.heartbeat) })
	}
	return c, nil
}

// defaultWorkerID picks the worker id from the environment; in Kubernetes
// HOSTNAME is the pod name.
func defaultWorkerID(getenv func(string) string, hostname func() (string, error)) string {
	for _, key := range []string{"WORKER_ID", "HOSTNAME"} {
		if id := getenv(key); id != "" {
			return id
		}
	}
	id, _ := hostname()
	return id
}

// checkWorkerID applies the contract's rule here, because the server would
// reject every update of a badly named worker, and only in the background.
func checkWorkerID(id string) error {
	if id == "" || len(id) > 253 {
		return fmt.Errorf("%w: worker id %q must be 1-253 characters long", ErrInvalidArgument, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("%w: worker id %q has a character outside A-Z a-z 0-9 . _ : -", ErrInvalidArgument, id)
		}
	}
	return nil
}

// bearer is a per-call bearer token.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that tokens work before TLS is
// rolled out.
func (bearer) RequireTransportSecurity() bool { return false }

// WorkerID returns the id this client reports as.
func (c *Client) WorkerID() string { return c.id }

// clone copies m so that the caller may reuse it once the call returns; a
// nil m becomes an empty message.
func clone[T any, M interface {
	*T
	proto.Message
}](m M) M {
	if m == nil {
		return new(T)
	}
	return proto.Clone(m).(M)
}

func (c *Client) push(req *musterv1.ReportRequest) {
	req.WorkerId = c.id
	c.q.push(req)
}

// UpdateExtractionStatus replaces the worker's extraction status. Only the
// newest status waits in the queue; a newer one replaces an unsent one.
func (c *Client) UpdateExtractionStatus(st *musterv1.ExtractionStatus) {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: clone(st)}})
}

// UpdateCircuitBreakers merges breakers, by name, into the worker's.
func (c *Client) UpdateCircuitBreakers(breakers map[string]*musterv1.CircuitBreaker) {
	m := make(map[string]*musterv1.CircuitBreaker, len(breakers))
	for name, b := range breakers {
		if b != nil {
			m[name] = clone(b)
		}
	}
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_CircuitBreakers{CircuitBreakers: &musterv1.CircuitBreakers{Breakers: m}}})
}

// UpdatePerformance replaces the worker's performance metrics.
func (c *Client) UpdatePerformance(p *musterv1.PerformanceMetrics) {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_Performance{Performance: clone(p)}})
}

// ReportError records an error event for the worker.
func (c *Client) ReportError(e *musterv1.ErrorEvent) {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_Error{Error: clone(e)}})
}

// Log records a log line, e.g. Log("INFO", "extraction", "started").
func (c *Client) Log(level, module, message string) {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_Log{Log: &musterv1.LogEntry{
		Level: level, Module: module, Message: message, WorkerType: c.workerType,
	}}})
}

// ReportCompletion records a completed extraction.
func (c *Client) ReportCompletion(e *musterv1.CompletedExtraction) {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_Completion{Completion: clone(e)}})
}

// Heartbeat tells the server the worker is alive. The client sends one
// every heartbeat interval by itself.
func (c *Client) Heartbeat() {
	c.push(&musterv1.ReportRequest{Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{WorkerType: c.workerType}}})
}

func (c *Client) heartbeats(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Heartbeat()
		}
	}
}

// Stats are the client's counters since New.
type Stats struct {
	// Sent counts updates the server acknowledged, including rejected ones.
	Sent uint64
	// Rejected counts updates the server acknowledged but refused as invalid.
	Rejected uint64
	// Dropped counts updates lost to a full queue, to Close, or because they
	// could not be encoded. Extraction statuses replaced by newer ones
	// before they were sent are not counted.
	Dropped uint64
	// Queued is how many updates await acknowledgement right now.
	Queued int
	// Reconnects counts failed streams, each followed by a backoff and a
	// new attempt.
	Reconnects uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Sent:       c.s.sent.Load(),
		Rejected:   c.s.rejected.Load(),
		Dropped:    c.q.droppedCount() + c.s.discarded.Load(),
		Queued:     c.q.len() + int(c.s.inflight.Load()),
		Reconnects: c.s.reconnects.Load(),
	}
}

// Flush waits until every update made before the call has been
// acknowledged by the server, and so is visible to readers. It returns
// ctx.Err() if that does not happen in time, e.g. while the server is
// unreachable; the updates stay queued.
func (c *Client) Flush(ctx context.Context) error {
	return c.s.waitAcked(ctx, c.q.last())
}

// Shutdown flushes until ctx ends, then stops the sender and the
// heartbeats and closes the connection. Updates made after Shutdown began
// are dropped. It returns the flush error, if any; calling it again
// returns the same.
func (c *Client) Shutdown(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.stopHeartbeats()
		c.q.close()
		err := c.Flush(ctx)
		if err != nil {
			err = fmt.Errorf("client: %d updates not delivered: %w", c.Stats().Queued, err)
		}
		c.stopSender()
		c.wg.Wait()
		if cerr := c.conn.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("client: %w", cerr)
		}
		c.closeErr = err
	})
	return c.closeErr
}

// Close is Shutdown with a flush bounded by 2 seconds.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return c.Shutdown(ctx)
}

// Worker returns a worker's full status as the server has it; an empty id
// means this client's worker. It is ErrNotFound when the server does not
// know the worker. Call Flush first to see this client's latest updates.
func (c *Client) Worker(ctx context.Context, id string) (*musterv1.WorkerStatus, error) {
	if id == "" {
		id = c.id
	}
	resp, err := c.rpc.GetWorker(ctx, &musterv1.GetWorkerRequest{WorkerId: id})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetWorker(), nil
}

// Aggregate returns the fleet-wide aggregate.
func (c *Client) Aggregate(ctx context.Context) (*musterv1.Aggregate, error) {
	resp, err := c.rpc.GetAggregate(ctx, &musterv1.GetAggregateRequest{})
	if err != nil {
		return nil, fromStatus(ctx, err)
	}
	return resp.GetAggregate(), nil
}

// rpcError is a server error that also matches one of the package's
// sentinel errors (or the context's error).
type rpcError struct {
	kind error
	st   *status.Status
}

func (e *rpcError) Error() string              { return e.kind.Error() + ": " + e.st.Message() }
func (e *rpcError) Is(target error) bool       { return target == e.kind }
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// fromStatus maps a gRPC error back to the package's errors; it is the
// client's side of the server's one mapping.
func fromStatus(ctx context.Context, err error) error {
	st, _ := status.FromError(err)
	var kind error
	switch st.Code() {
	case codes.NotFound:
		kind = ErrNotFound
	case codes.InvalidArgument:
		kind = ErrInvalidArgument
	case codes.Canceled, codes.DeadlineExceeded:
		kind = ctx.Err()
	}
	if kind == nil {
		return err
	}
	return &rpcError{kind: kind, st: st}
}
