package gateway

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestDecodeLegacyBodies(t *testing.T) {
	t.Parallel()
	started := timestamppb.New(mustTime(t, "2026-02-01T12:00:00.123456Z"))
	tests := []struct {
		name string
		body string
		into func() proto.Message
		want proto.Message
	}{
		{
			name: "whole extraction status with nulls",
			body: `{"status": "running", "current_diocese": null, "parishes_processed": 5, "total_parishes": 25,
				"success_rate": 80.0, "progress_percentage": 20.0, "estimated_completion": null,
				"started_at": "2026-02-01T12:00:00.123456+00:00"}`,
			into: func() proto.Message { return &musterv1.ExtractionStatus{} },
			want: &musterv1.ExtractionStatus{
				Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, ParishesProcessed: 5, TotalParishes: 25,
				SuccessRate: 80, ProgressPercentage: 20, StartedAt: started,
			},
		},
		{
			name: "enum in any case, with or without prefix; naive timestamp is UTC",
			body: `{"status": "Paused", "started_at": "2026-02-01T12:00:00.123456"}`,
			into: func() proto.Message { return &musterv1.ExtractionStatus{} },
			want: &musterv1.ExtractionStatus{Status: musterv1.ExtractionState_EXTRACTION_STATE_PAUSED, StartedAt: started},
		},
		{
			name: "percent string rate, successes derived and rounded",
			body: `{"state": "half_open", "total_requests": 89, "success_rate": "92.1%", "total_failures": 7, "total_blocked": 3}`,
			into: func() proto.Message { return &musterv1.CircuitBreaker{} },
			want: &musterv1.CircuitBreaker{
				State: musterv1.BreakerState_BREAKER_STATE_HALF_OPEN, TotalRequests: 89, TotalSuccesses: 82,
				TotalFailures: 7, TotalBlocked: 3, SuccessRate: 92.1,
			},
		},
		{
			name: "explicit successes are kept",
			body: `{"state": "OPEN", "total_requests": 10, "total_successes": 3, "success_rate": 95.0}`,
			into: func() proto.Message { return &musterv1.CircuitBreaker{} },
			want: &musterv1.CircuitBreaker{State: musterv1.BreakerState_BREAKER_STATE_OPEN, TotalRequests: 10, TotalSuccesses: 3, SuccessRate: 95},
		},
		{
			name: "completion: known keys stored, others kept as attributes, client timestamp too",
			body: `{"diocese_name": "Diocese of Boston", "duration": 3.2, "status": "completed", "timestamp": "2026-02-01T12:00:00+00:00",
				"parish_name": "St. Mary", "url": "https://p.example/m", "schedules_found": 2, "mass_times": "Sun 9:00",
				"worker_id": "schedule-pod-1", "extra": {"a": 1}}`,
			into: func() proto.Message { return &musterv1.CompletedExtraction{} },
			want: &musterv1.CompletedExtraction{
				WorkerId: "schedule-pod-1", DioceseName: "Diocese of Boston", Duration: 3.2, Status: "completed",
				ParishName: proto.String("St. Mary"), SchedulesFound: proto.Int64(2), MassTimes: proto.String("Sun 9:00"),
				Attributes: map[string]string{"timestamp": "2026-02-01T12:00:00+00:00", "url": "https://p.example/m", "extra": `{"a":1}`},
			},
		},
		{
			name: "log with null worker_type and unknown keys",
			body: `{"message": "hi", "level": "INFO", "module": "extraction", "worker_id": "w1", "worker_type": null, "thread": 7}`,
			into: func() proto.Message { return &musterv1.LogEntry{} },
			want: &musterv1.LogEntry{WorkerId: "w1", Message: "hi", Level: "INFO", Module: "extraction"},
		},
		{
			name: "integral float and numeric string counts",
			body: `{"parishes_per_minute": "12.5", "queue_size": 3.0, "total_requests": "40"}`,
			into: func() proto.Message { return &musterv1.PerformanceMetrics{} },
			want: &musterv1.PerformanceMetrics{ParishesPerMinute: 12.5, QueueSize: 3, TotalRequests: 40},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.into()
			if err := decodeBody([]byte(tt.body), got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, field string
	}{
		{"unknown status", `{"status": "sprinting"}`, "status"},
		{"fractional count", `{"parishes_processed": 1.5}`, "parishes_processed"},
		{"text count", `{"total_parishes": "many"}`, "total_parishes"},
		{"NaN rate", `{"success_rate": "NaN"}`, "success_rate"},
		{"bad time", `{"started_at": "yesterday"}`, "started_at"},
		{"object for string", `{"current_diocese": {"x": 1}}`, "current_diocese"},
		{"not an object", `[1, 2]`, ""},
		{"trailing data", `{} {}`, ""},
		{"syntax", `{not json`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := decodeBody([]byte(tt.body), &musterv1.ExtractionStatus{})
			var ferr *FieldError
			if !errors.As(err, &ferr) {
				t.Fatalf("decode = %v, want a FieldError", err)
			}
			if ferr.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", ferr.Field, tt.field, err)
			}
		})
	}
}

func TestDecodeShapesTheGatewayPasses(t *testing.T) {
	t.Parallel()
	if err := decodeBody([]byte("  \n"), &musterv1.HeartbeatRequest{}); !errors.Is(err, io.EOF) {
		t.Errorf("empty body: %v, want io.EOF", err)
	}
	var status *musterv1.ExtractionStatus
	if err := decodeBody([]byte(`{"status": "idle"}`), &status); err != nil || status.GetStatus() != musterv1.ExtractionState_EXTRACTION_STATE_IDLE {
		t.Errorf("pointer to message: %v, %v", status, err)
	}
	var breakers map[string]*musterv1.CircuitBreaker
	err := decodeBody([]byte(`{"a": {"state": "open", "total_requests": 2}, "b": {"state": "BROKEN"}}`), &breakers)
	var ferr *FieldError
	if !errors.As(err, &ferr) || ferr.Field != "b.state" {
		t.Errorf("map with a bad breaker: %v, want field b.state", err)
	}
}

func TestEncodeLegacyShapes(t *testing.T) {
	t.Parallel()
	at := timestamppb.New(mustTime(t, "2026-01-05T10:00:00.000001Z"))
	tests := []struct {
		name string
		v    any
		want string
	}{
		{
			name: "counts are numbers, unset optionals null, enums legacy-spelled",
			v: &musterv1.ExtractionStatus{
				Status: musterv1.ExtractionState_EXTRACTION_STATE_RUNNING, ParishesProcessed: 9007199254740992,
				TotalParishes: 300, SuccessRate: 86.7, StartedAt: at,
			},
			want: `{"status":"running","current_diocese":null,"parishes_processed":9007199254740992,"total_parishes":300,` +
				`"success_rate":86.7,"progress_percentage":0,"started_at":"2026-01-05T10:00:00.000001+00:00","estimated_completion":null}`,
		},
		{
			name: "breaker states upper case, maps sorted",
			v: &musterv1.Aggregate{CircuitBreakers: map[string]*musterv1.BreakerAggregate{
				"z": {State: musterv1.BreakerState_BREAKER_STATE_HALF_OPEN, TotalRequests: 1},
				"a": {State: musterv1.BreakerState_BREAKER_STATE_OPEN},
			}},
			want: `{"extraction_status":null,"circuit_breakers":{"a":{"state":"OPEN","total_requests":0,"total_successes":0,` +
				`"total_failures":0,"total_blocked":0,"success_rate":0,"workers_closed":0,"workers_half_open":0,"workers_open":0},` +
				`"z":{"state":"HALF_OPEN","total_requests":1,"total_successes":0,"total_failures":0,"total_blocked":0,` +
				`"success_rate":0,"workers_closed":0,"workers_half_open":0,"workers_open":0}},"performance_metrics":null}`,
		},
		{
			name: "oneof writes only the set member; whole-second time has no fraction",
			v: &musterv1.WatchResponse{Event: &musterv1.WatchResponse_Log{Log: &musterv1.LogEntry{
				Message: "quote \" tab \t \u2705", Level: "INFO", Timestamp: timestamppb.New(mustTime(t, "2026-01-05T10:00:00Z")),
			}}},
			want: `{"log":{"worker_id":"","message":"quote \" tab \t ✅","level":"INFO","module":"","worker_type":"",` +
				`"timestamp":"2026-01-05T10:00:00+00:00"}}`,
		},
		{
			name: "write acknowledgement",
			v:    ack{&musterv1.SetModeResponse{Mode: "individual"}},
			want: `{"status":"success","mode":"individual"}`,
		},
		{
			name: "empty acknowledgement",
			v:    ack{&musterv1.HeartbeatResponse{}},
			want: `{"status":"success"}`,
		},
		{
			name: "streamed error in the usual error shape",
			v:    map[string]proto.Message{"error": status.New(codes.Unauthenticated, "invalid bearer token").Proto()},
			want: `{"error":{"code":401,"status":"UNAUTHENTICATED","message":"invalid bearer token"}}`,
		},
		{
			name: "stream chunk",
			v:    map[string]any{"result": &musterv1.WatchResponse{Event: &musterv1.WatchResponse_WorkerRemoved{WorkerRemoved: "w1"}}},
			want: `{"result":{"worker_removed":"w1"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec{}.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	withField, _ := status.New(codes.InvalidArgument, "status.success_rate: must be between 0 and 100").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "status.success_rate", Description: "must be between 0 and 100"}}})
	tests := []struct {
		name     string
		err      error
		wantCode int
		want     errorBody
	}{
		{"validation details", withField.Err(), 400, errorBody{400, "INVALID_ARGUMENT", "status.success_rate: must be between 0 and 100", "status.success_rate", "must be between 0 and 100"}},
		{"decode error text", status.Error(codes.InvalidArgument, "b.state: unknown value X"), 400, errorBody{400, "INVALID_ARGUMENT", "b.state: unknown value X", "b.state", "unknown value X"}},
		{"not found", status.Error(codes.NotFound, "worker not found"), 404, errorBody{Code: 404, Status: "NOT_FOUND", Message: "worker not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := newErrorBody(tt.err)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
