package server_test

import (
	"context"
	"strings"
	"testing"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func TestMetricsCountByTransportAndDescribeTheFleet(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{MetricsPerWorker: 1})
	ctx := context.Background()
	s.PostOK(t, "/api/monitoring/worker/a/extraction_status", `{"status":"running","parishes_processed":3,"total_parishes":10,"success_rate":50}`)
	s.PostOK(t, "/api/monitoring/worker/a/circuit_breakers", `{"webdriver":{"state":"OPEN","total_requests":4,"total_successes":1}}`)
	if _, err := s.Client.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: "b"}); err != nil {
		t.Fatal(err)
	}
	stream, _ := s.Client.Report(ctx)
	_ = stream.Send(&musterv1.ReportRequest{WorkerId: "b", Update: &musterv1.ReportRequest_Heartbeat{Heartbeat: &musterv1.Heartbeat{}}})
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}

	code, body := s.Get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, want := range []string{
		`muster_updates_received_total{kind="extraction_status",transport="rest"} 1`,
		`muster_updates_received_total{kind="heartbeat",transport="grpc"} 1`,
		`muster_updates_received_total{kind="heartbeat",transport="grpc_stream"} 1`,
		`muster_workers{health="fresh"} 2`,
		`muster_active_workers 1`,
		`muster_parishes_processed 3`,
		`muster_breaker_state{breaker="webdriver",state="OPEN"} 1`,
		`muster_breaker_state{breaker="webdriver",state="CLOSED"} 0`,
		`muster_breaker_requests{breaker="webdriver",outcome="successes"} 1`,
		`muster_worker_parishes_processed{worker_id="a"} 3`,
		`muster_grpc_server_handled_total{code="OK",method="Heartbeat"} 1`,
		`muster_grpc_server_handled_total{code="OK",method="Report"} 1`,
		`muster_websocket_connections 0`,
		`muster_watchers 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `worker_id="b"`) {
		t.Error("per-worker series exceed --metrics-per-worker=1")
	}
}

func TestHealthAndReflection(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := s.Get(t, path); code != 200 || !strings.Contains(body, `"ok"`) {
			t.Errorf("%s: HTTP %d %s", path, code, body)
		}
	}
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health = %v, %v; want SERVING", hc, err)
	}
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	resp, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "muster.v1.MonitoringService") {
		t.Errorf("reflection lists %v, want muster.v1.MonitoringService", names)
	}
	_ = refl.CloseSend()
}
