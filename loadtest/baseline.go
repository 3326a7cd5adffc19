package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
)

// LegacyStatus is the legacy extraction status object as a plain struct:
// what the net/http baseline decodes into (and the codec benchmark too).
type LegacyStatus struct {
	Status              string  `json:"status"`
	CurrentDiocese      *string `json:"current_diocese"`
	ParishesProcessed   int64   `json:"parishes_processed"`
	TotalParishes       int64   `json:"total_parishes"`
	SuccessRate         float64 `json:"success_rate"`
	ProgressPercentage  float64 `json:"progress_percentage"`
	StartedAt           *string `json:"started_at"`
	EstimatedCompletion *string `json:"estimated_completion"`
}

// legacyBreaker is one legacy circuit breaker; success_rate may be "95.6%".
type legacyBreaker struct {
	State          string `json:"state"`
	TotalRequests  int64  `json:"total_requests"`
	TotalSuccesses *int64 `json:"total_successes"`
	TotalFailures  int64  `json:"total_failures"`
	TotalBlocked   int64  `json:"total_blocked"`
	SuccessRate    any    `json:"success_rate"`
}

type legacyHeartbeat struct {
	WorkerType string `json:"worker_type"`
}

type restBaseline struct {
	mu       sync.Mutex
	status   map[string]*LegacyStatus
	breakers map[string]map[string]legacyBreaker
	seen     map[string]string
}

// RESTBaseline is the REST floor: a plain net/http handler for the
// worker-scoped write paths that decodes the same legacy JSON into a struct
// with encoding/json and stores it under a mutex.
func RESTBaseline() http.Handler {
	b := &restBaseline{
		status:   map[string]*LegacyStatus{},
		breakers: map[string]map[string]legacyBreaker{},
		seen:     map[string]string{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/monitoring/worker/{id}/extraction_status", func(w http.ResponseWriter, r *http.Request) {
		var st LegacyStatus
		if !decode(w, r, &st) {
			return
		}
		b.mu.Lock()
		b.status[r.PathValue("id")] = &st
		b.mu.Unlock()
		ok(w)
	})
	mux.HandleFunc("POST /api/monitoring/worker/{id}/circuit_breakers", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]legacyBreaker
		if !decode(w, r, &in) {
			return
		}
		id := r.PathValue("id")
		b.mu.Lock()
		cur := b.breakers[id]
		if cur == nil {
			cur = map[string]legacyBreaker{}
			b.breakers[id] = cur
		}
		for name, br := range in {
			cur[name] = br
		}
		b.mu.Unlock()
		ok(w)
	})
	mux.HandleFunc("POST /api/monitoring/worker/{id}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		var hb legacyHeartbeat
		if !decode(w, r, &hb) {
			return
		}
		b.mu.Lock()
		b.seen[r.PathValue("id")] = hb.WorkerType
		b.mu.Unlock()
		ok(w)
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err == nil && len(data) > 0 {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		http.Error(w, `{"status":"error"}`, http.StatusBadRequest)
		return false
	}
	return true
}

func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"success"}`)
}

// grpcBaseline implements the write RPCs the load uses by storing the
// message and nothing else.
type grpcBaseline struct {
	musterv1.UnimplementedMonitoringServiceServer
	mu    sync.Mutex
	state map[string]any
}

// GRPCBaseline is the gRPC floor: a bare grpc-go server (no interceptors)
// whose handlers only store the message under a mutex.
func GRPCBaseline() *grpc.Server {
	srv := grpc.NewServer()
	musterv1.RegisterMonitoringServiceServer(srv, &grpcBaseline{state: map[string]any{}})
	return srv
}

func (g *grpcBaseline) store(id string, msg any) {
	g.mu.Lock()
	g.state[id] = msg
	g.mu.Unlock()
}

func (g *grpcBaseline) UpdateExtractionStatus(_ context.Context, r *musterv1.UpdateExtractionStatusRequest) (*musterv1.UpdateExtractionStatusResponse, error) {
	g.store(r.GetWorkerId(), r)
	return &musterv1.UpdateExtractionStatusResponse{}, nil
}

func (g *grpcBaseline) UpdateCircuitBreakers(_ context.Context, r *musterv1.UpdateCircuitBreakersRequest) (*musterv1.UpdateCircuitBreakersResponse, error) {
	g.store(r.GetWorkerId(), r)
	return &musterv1.UpdateCircuitBreakersResponse{}, nil
}

func (g *grpcBaseline) Heartbeat(_ context.Context, r *musterv1.HeartbeatRequest) (*musterv1.HeartbeatResponse, error) {
	g.store(r.GetWorkerId(), r)
	return &musterv1.HeartbeatResponse{}, nil
}

func (g *grpcBaseline) Report(stream musterv1.MonitoringService_ReportServer) error {
	var resp musterv1.ReportResponse
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&resp)
		}
		if err != nil {
			return err
		}
		g.store(r.GetWorkerId(), r)
		resp.Accepted++
	}
}
