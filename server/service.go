package server

import (
	"context"
	"errors"
	"io"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/manager"
	"github.com/musterhq/muster/server/replica"
	"github.com/musterhq/muster/server/validate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// service implements musterv1.MonitoringServiceServer over a Manager.
type service struct {
	musterv1.UnimplementedMonitoringServiceServer

	m       *manager.Manager // reads
	write   writer           // writes
	metrics *metrics
	started time.Time
	host    hostStats
	// WatchInterval is the least time between two batches sent to one
	// watcher, so bursts of updates coalesce into one batch.
	watchInterval time.Duration
}

// hostStats reports the host's CPU and memory use in percent.
type hostStats func() (cpu, memory float64)

func newService(m *manager.Manager, w writer, mt *metrics, host hostStats) *service {
	return &service{m: m, write: w, metrics: mt, started: m.Options().Now(), host: host, watchInterval: 50 * time.Millisecond}
}

// writer takes the writes the service accepted: straight into the manager,
// or into the replication log that applies them to every replica's
// manager in the same order.
type writer interface {
	Update(ctx context.Context, req *musterv1.ReportRequest) error
	Forget(ctx context.Context, workerID string) error
	SetAggregateMode(ctx context.Context, on bool) error
}

// localWriter writes to this process's manager only.
type localWriter struct{ m *manager.Manager }

func (w localWriter) Update(_ context.Context, req *musterv1.ReportRequest) error {
	return w.m.Apply(req)
}
func (w localWriter) Forget(_ context.Context, id string) error { return w.m.Forget(id) }
func (w localWriter) SetAggregateMode(_ context.Context, on bool) error {
	w.m.SetAggregateMode(on)
	return nil
}

// toStatus maps domain and validation errors to gRPC status errors; it is
// the one place where that happens.
func toStatus(err error) error {
	var verr *validate.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		st := status.New(codes.InvalidArgument, verr.Error())
		if withDetails, derr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: verr.Field, Description: verr.Reason}},
		}); derr == nil {
			st = withDetails
		}
		return st.Err()
	case errors.Is(err, manager.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, replica.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, manager.ErrFull):
		return status.Error(codes.ResourceExhausted, "too many workers: every known worker is fresh (the cap is --max-workers)")
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

func (s *service) UpdateExtractionStatus(ctx context.Context, req *musterv1.UpdateExtractionStatusRequest) (*musterv1.UpdateExtractionStatusResponse, error) {
	if err := validate.First(validate.OptionalWorkerID("worker_id", req.GetWorkerId()), validate.ExtractionStatus("status", req.GetStatus())); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: req.GetWorkerId(), Update: &musterv1.ReportRequest_ExtractionStatus{ExtractionStatus: req.GetStatus()}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "extraction_status")
	return &musterv1.UpdateExtractionStatusResponse{}, nil
}

func (s *service) UpdateCircuitBreakers(ctx context.Context, req *musterv1.UpdateCircuitBreakersRequest) (*musterv1.UpdateCircuitBreakersResponse, error) {
	if err := validate.First(validate.OptionalWorkerID("worker_id", req.GetWorkerId()), validate.CircuitBreakers("circuit_breakers", req.GetCircuitBreakers())); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: req.GetWorkerId(), Update: &musterv1.ReportRequest_CircuitBreakers{CircuitBreakers: &musterv1.CircuitBreakers{Breakers: req.GetCircuitBreakers()}}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "circuit_breakers")
	return &musterv1.UpdateCircuitBreakersResponse{}, nil
}

func (s *service) UpdatePerformance(ctx context.Context, req *musterv1.UpdatePerformanceRequest) (*musterv1.UpdatePerformanceResponse, error) {
	if err := validate.First(validate.OptionalWorkerID("worker_id", req.GetWorkerId()), validate.Performance("metrics", req.GetMetrics())); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: req.GetWorkerId(), Update: &musterv1.ReportRequest_Performance{Performance: req.GetMetrics()}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "performance")
	return &musterv1.UpdatePerformanceResponse{}, nil
}

func (s *service) ReportError(ctx context.Context, req *musterv1.ReportErrorRequest) (*musterv1.ReportErrorResponse, error) {
	e := req.GetError()
	if e == nil {
		e = &musterv1.ErrorEvent{}
	}
	if req.GetWorkerId() != "" {
		e.WorkerId = req.GetWorkerId()
	}
	if err := validate.ErrorEvent("error", e); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: e.GetWorkerId(), Update: &musterv1.ReportRequest_Error{Error: e}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "error")
	return &musterv1.ReportErrorResponse{}, nil
}

func (s *service) ReportLog(ctx context.Context, req *musterv1.ReportLogRequest) (*musterv1.ReportLogResponse, error) {
	e := req.GetEntry()
	if e == nil {
		e = &musterv1.LogEntry{}
	}
	if req.GetWorkerId() != "" {
		e.WorkerId = req.GetWorkerId()
	}
	if err := validate.LogEntry("entry", e); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: e.GetWorkerId(), Update: &musterv1.ReportRequest_Log{Log: e}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "log")
	return &musterv1.ReportLogResponse{}, nil
}

func (s *service) ReportCompletion(ctx context.Context, req *musterv1.ReportCompletionRequest) (*musterv1.ReportCompletionResponse, error) {
	e := req.GetCompletion()
	if e == nil {
		e = &musterv1.CompletedExtraction{}
	}
	if req.GetWorkerId() != "" {
		e.WorkerId = req.GetWorkerId()
	}
	if err := validate.CompletedExtraction("completion", e); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: e.GetWorkerId(), Update: &musterv1.ReportRequest_Completion{Completion: e}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "completion")
	return &musterv1.ReportCompletionResponse{}, nil
}

func (s *service) Heartbeat(ctx context.Context, req *musterv1.HeartbeatRequest) (*musterv1.HeartbeatResponse, error) {
	if err := validate.First(validate.WorkerID("worker_id", req.GetWorkerId()), validate.WorkerType("worker_type", req.GetWorkerType())); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Update(ctx, &musterv1.ReportRequest{WorkerId: req.GetWorkerId(), Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{WorkerType: req.GetWorkerType()}}}); err != nil {
		return nil, toStatus(err)
	}
	s.metrics.countUpdate(ctx, "heartbeat")
	return &musterv1.HeartbeatResponse{}, nil
}

// Report applies each update on the stream as it arrives. A bad update is
// counted and skipped rather than ending the stream, so one bad message
// cannot cost a worker the updates queued behind it.
func (s *service) Report(stream musterv1.MonitoringService_ReportServer) error {
	var resp musterv1.ReportResponse
	ctx := context.WithValue(stream.Context(), streamedKey{}, true)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&resp)
		}
		if err != nil {
			return err
		}
		if err := s.apply(ctx, req); err != nil {
			resp.Rejected++
			resp.LastError = status.Convert(err).Message()
			continue
		}
		resp.Accepted++
	}
}

// apply routes one streamed update through the unary handler of its kind,
// so streamed and unary updates meet the same rules.
func (s *service) apply(ctx context.Context, req *musterv1.ReportRequest) error {
	id := req.GetWorkerId()
	var err error
	switch u := req.GetUpdate().(type) {
	case *musterv1.ReportRequest_ExtractionStatus:
		_, err = s.UpdateExtractionStatus(ctx, &musterv1.UpdateExtractionStatusRequest{WorkerId: id, Status: u.ExtractionStatus})
	case *musterv1.ReportRequest_CircuitBreakers:
		_, err = s.UpdateCircuitBreakers(ctx, &musterv1.UpdateCircuitBreakersRequest{WorkerId: id, CircuitBreakers: u.CircuitBreakers.GetBreakers()})
	case *musterv1.ReportRequest_Performance:
		_, err = s.UpdatePerformance(ctx, &musterv1.UpdatePerformanceRequest{WorkerId: id, Metrics: u.Performance})
	case *musterv1.ReportRequest_Error:
		_, err = s.ReportError(ctx, &musterv1.ReportErrorRequest{WorkerId: id, Error: u.Error})
	case *musterv1.ReportRequest_Log:
		_, err = s.ReportLog(ctx, &musterv1.ReportLogRequest{WorkerId: id, Entry: u.Log})
	case *musterv1.ReportRequest_Completion:
		_, err = s.ReportCompletion(ctx, &musterv1.ReportCompletionRequest{WorkerId: id, Completion: u.Completion})
	case *musterv1.ReportRequest_Heartbeat:
		_, err = s.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: id, WorkerType: u.Heartbeat.GetWorkerType()})
	default:
		err = toStatus(&validate.Error{Field: "update", Reason: "must be set"})
	}
	return err
}

func (s *service) GetWorker(_ context.Context, req *musterv1.GetWorkerRequest) (*musterv1.GetWorkerResponse, error) {
	if err := validate.WorkerID("worker_id", req.GetWorkerId()); err != nil {
		return nil, toStatus(err)
	}
	w, err := s.m.Worker(req.GetWorkerId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &musterv1.GetWorkerResponse{Worker: w}, nil
}

func (s *service) ListWorkers(context.Context, *musterv1.ListWorkersRequest) (*musterv1.ListWorkersResponse, error) {
	return &musterv1.ListWorkersResponse{Workers: s.m.Workers(), AggregateMode: s.m.AggregateMode()}, nil
}

func (s *service) GetAggregate(context.Context, *musterv1.GetAggregateRequest) (*musterv1.GetAggregateResponse, error) {
	return &musterv1.GetAggregateResponse{Aggregate: s.m.Aggregate()}, nil
}

// legacyRecent is how many events the legacy status document carries.
const legacyRecent = 10

func (s *service) GetStatus(context.Context, *musterv1.GetStatusRequest) (*musterv1.GetStatusResponse, error) {
	agg := s.m.Aggregate()
	errs, _, completions := s.m.Recent(legacyRecent)
	cpu, mem := s.host()
	now := s.m.Options().Now()
	return &musterv1.GetStatusResponse{
		SystemHealth: &musterv1.SystemHealth{
			Status:      "healthy",
			CpuUsage:    cpu,
			MemoryUsage: mem,
			Uptime:      now.Sub(s.started).Seconds(),
			Timestamp:   timestamppb.New(now),
		},
		ExtractionStatus:     agg.GetExtractionStatus(),
		CircuitBreakers:      agg.GetCircuitBreakers(),
		PerformanceMetrics:   agg.GetPerformanceMetrics(),
		RecentErrors:         errs,
		ExtractionHistory:    completions,
		WebsocketConnections: int32(s.m.Watchers()),
	}, nil
}

func (s *service) ForgetWorker(ctx context.Context, req *musterv1.ForgetWorkerRequest) (*musterv1.ForgetWorkerResponse, error) {
	if err := validate.WorkerID("worker_id", req.GetWorkerId()); err != nil {
		return nil, toStatus(err)
	}
	if err := s.write.Forget(ctx, req.GetWorkerId()); err != nil {
		return nil, toStatus(err)
	}
	return &musterv1.ForgetWorkerResponse{}, nil
}

func (s *service) SetMode(ctx context.Context, req *musterv1.SetModeRequest) (*musterv1.SetModeResponse, error) {
	if req.GetMode() != "aggregate" && req.GetMode() != "individual" {
		return nil, toStatus(&validate.Error{Field: "mode", Reason: `must be "aggregate" or "individual"`})
	}
	if err := s.write.SetAggregateMode(ctx, req.GetMode() == "aggregate"); err != nil {
		return nil, toStatus(err)
	}
	return &musterv1.SetModeResponse{Mode: req.GetMode()}, nil
}

// Watch sends a snapshot, then batches of changes, at most one batch per
// watchInterval so that bursts coalesce.
func (s *service) Watch(req *musterv1.WatchRequest, stream musterv1.MonitoringService_WatchServer) error {
	if err := validate.OptionalWorkerID("worker_id", req.GetWorkerId()); err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	w := s.m.Watch(req.GetWorkerId())
	defer w.Close()
	pace := time.NewTicker(s.watchInterval)
	defer pace.Stop()
	for {
		batch, err := w.Next(ctx)
		if errors.Is(err, manager.ErrClosed) {
			return status.Error(codes.Unavailable, "server is shutting down")
		}
		if err != nil {
			return status.FromContextError(err).Err()
		}
		for _, msg := range batch {
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-pace.C:
		}
	}
}
