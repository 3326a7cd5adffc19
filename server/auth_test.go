package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	writeToken = "w-secret"
	readToken  = "r-secret"
)

func withToken(token string) context.Context {
	if token == "" {
		return context.Background()
	}
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func TestAuthOverGRPC(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{AuthToken: writeToken, ReadToken: readToken})
	write := func(ctx context.Context) error {
		_, err := s.Client.Heartbeat(ctx, &musterv1.HeartbeatRequest{WorkerId: "w1"})
		return err
	}
	read := func(ctx context.Context) error {
		_, err := s.Client.ListWorkers(ctx, &musterv1.ListWorkersRequest{})
		return err
	}
	watch := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := s.Client.Watch(ctx, &musterv1.WatchRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		return err
	}
	tests := []struct {
		name  string
		call  func(context.Context) error
		token string
		want  codes.Code
	}{
		{"write without a token", write, "", codes.Unauthenticated},
		{"write with the read token", write, readToken, codes.Unauthenticated},
		{"write with a wrong token", write, "w-secreT", codes.Unauthenticated},
		{"write with the write token", write, writeToken, codes.OK},
		{"read without a token", read, "", codes.Unauthenticated},
		{"read with the read token", read, readToken, codes.OK},
		{"read with the write token", read, writeToken, codes.OK},
		{"watch without a token", watch, "", codes.Unauthenticated},
		{"watch with the read token", watch, readToken, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call(withToken(tt.token))); got != tt.want {
				t.Errorf("code = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuthOverREST(t *testing.T) {
	t.Parallel()
	strict := testserver.Start(t, server.Config{AuthToken: writeToken, ReadToken: readToken})
	lenient := testserver.Start(t, server.Config{AuthToken: writeToken, AllowLegacyUnauthenticated: true})
	tests := []struct {
		name         string
		s            *testserver.Server
		method, path string
		token        string
		want         int
	}{
		{"worker write without a token", strict, "POST", "/api/monitoring/worker/w1/heartbeat", "", 401},
		{"worker write with the token", strict, "POST", "/api/monitoring/worker/w1/heartbeat", writeToken, 200},
		{"legacy write without a token", strict, "POST", "/api/monitoring/log", "", 401},
		{"read without a token", strict, "GET", "/api/monitoring/workers", "", 401},
		{"read with the read token", strict, "GET", "/api/monitoring/workers", readToken, 200},
		{"legacy write allowed without a token", lenient, "POST", "/api/monitoring/log", "", 200},
		{"legacy write with a wrong token is still refused", lenient, "POST", "/api/monitoring/log", "nope", 401},
		{"worker write still needs the token", lenient, "POST", "/api/monitoring/worker/w1/log", "", 401},
		{"reads stay open without a read token", lenient, "GET", "/api/monitoring/status", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.s.HTTPURL+tt.path, strings.NewReader(`{"message":"m"}`))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d, want %d: %v", resp.StatusCode, tt.want, body)
			}
			if tt.want == 401 && (body["status"] != "UNAUTHENTICATED" || resp.Header.Get("WWW-Authenticate") == "") {
				t.Errorf("401 body %v / WWW-Authenticate %q", body, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAuthOnTheWebSocketFeed(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{ReadToken: readToken})
	url := strings.Replace(s.HTTPURL, "http", "ws", 1) + "/ws/monitoring"
	_, resp, err := websocket.Dial(context.Background(), url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial without a token: %v, want 401", err)
	}
	conn, _, err := websocket.Dial(context.Background(), url+"?token="+readToken, nil)
	if err != nil {
		t.Fatalf("dial with ?token=: %v", err)
	}
	conn.CloseNow()
}
