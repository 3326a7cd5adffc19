package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/musterhq/muster/internal/testserver"
	"github.com/musterhq/muster/server"
)

const otherOrigin = "http://localhost:5173" // where the old dashboard is served

type feedMessage struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func dialFeed(ctx context.Context, t *testing.T, s *testserver.Server, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	header := http.Header{}
	if origin != "" {
		header.Set("Origin", origin)
	}
	return websocket.Dial(ctx, strings.Replace(s.HTTPURL, "http", "ws", 1)+"/ws/monitoring", &websocket.DialOptions{HTTPHeader: header})
}

// readUntil reads feed messages until one of type kind arrives.
func readUntil(ctx context.Context, t *testing.T, conn *websocket.Conn, kind string) feedMessage {
	t.Helper()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		var m feedMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("message %s: %v", data, err)
		}
		if m.Type == kind {
			return m
		}
	}
}

func TestWebSocketFeed(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{CORSOrigins: []string{otherOrigin}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := dialFeed(ctx, t, s, otherOrigin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	readUntil(ctx, t, conn, "system_health")
	readUntil(ctx, t, conn, "extraction_status")

	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if m := readUntil(ctx, t, conn, "pong"); m.Payload != nil {
		t.Errorf("pong carries a payload: %s", m.Payload)
	}
	if got := s.Status(t).GetWebsocketConnections(); got != 1 {
		t.Errorf("websocket_connections = %d, want 1", got)
	}

	s.PostOK(t, "/api/monitoring/worker/w1/extraction_status", `{"status":"running","parishes_processed":4,"total_parishes":8,"success_rate":75}`)
	s.PostOK(t, "/api/monitoring/log", `{"message":"hello","level":"INFO","module":"extraction","worker_id":"w1"}`)
	s.PostOK(t, "/api/monitoring/error", `{"type":"X","message":"boom","diocese":null,"severity":"error"}`)
	s.PostOK(t, "/api/monitoring/extraction_complete", `{"diocese_name":"D","parishes_extracted":8,"success_rate":75,"duration":1.5,"status":"completed"}`)

	// Each expected message, by type, with what its payload must hold.
	want := map[string]map[string]any{
		"worker_extraction_status": {"worker_id": "w1", "parishes_processed": float64(4), "status": "running"},
		"live_log":                 {"message": "hello", "worker_id": "w1", "level": "INFO"},
		"error_alert":              {"message": "boom", "worker_id": ""},
		"extraction_complete":      {"diocese_name": "D", "parishes_extracted": float64(8)},
		"extraction_status":        {"status": "running", "active_workers": float64(1), "parishes_processed": float64(4)},
	}
	for len(want) > 0 {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("still waiting for %v: %v", want, err)
		}
		var m feedMessage
		var payload map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(m.Payload, &payload)
		if fields, ok := want[m.Type]; ok && matches(payload, fields) {
			delete(want, m.Type)
		}
	}
}

func matches(payload, fields map[string]any) bool {
	for k, v := range fields {
		if payload[k] != v {
			return false
		}
	}
	return true
}

func TestWebSocketRefusesOtherOrigins(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := dialFeed(ctx, t, s, otherOrigin)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from %s: %v, want 403 (closed by default)", otherOrigin, err)
	}
	conn, _, err := dialFeed(ctx, t, s, "") // same-origin and non-browser clients
	if err != nil {
		t.Fatal(err)
	}
	conn.CloseNow()
}

func TestCORS(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{CORSOrigins: []string{otherOrigin}})
	tests := []struct {
		name, method, origin string
		wantCode             int
		wantAllow            string
	}{
		{"preflight for a JSON POST from an allowed origin", http.MethodOptions, otherOrigin, 204, otherOrigin},
		{"preflight from another origin", http.MethodOptions, "http://evil.example", 403, ""},
		{"GET from an allowed origin", http.MethodGet, otherOrigin, 200, otherOrigin},
		{"GET from another origin gets no CORS headers", http.MethodGet, "http://evil.example", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tt.method, s.HTTPURL+"/api/monitoring/workers", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Access-Control-Allow-Origin") != tt.wantAllow {
				t.Errorf("HTTP %d, Allow-Origin %q; want %d, %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tt.wantCode, tt.wantAllow)
			}
		})
	}
}

// TestErrorsNameFieldsOfTheBody: REST clients send the bound field's content
// as the whole body, so errors name fields within it.
func TestErrorsNameFieldsOfTheBody(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t, server.Config{})
	tests := []struct{ path, body, field string }{
		{"/api/monitoring/worker/w1/extraction_status", `{"status":"running","success_rate":150}`, "success_rate"},
		{"/api/monitoring/circuit_breakers", `{"b":{"total_requests":-1}}`, "b.total_requests"},
		{"/api/monitoring/log", `{"message":"m","worker_id":"no spaces"}`, "worker_id"},
		{"/api/monitoring/performance", `{"pool_utilization":101}`, "pool_utilization"},
	}
	for _, tt := range tests {
		code, body := s.Post(t, tt.path, tt.body)
		message, _ := body["message"].(string)
		if code != 400 || body["field"] != tt.field || !strings.HasPrefix(message, tt.field+": ") {
			t.Errorf("POST %s %s: HTTP %d %v, want 400 naming %s", tt.path, tt.body, code, body, tt.field)
		}
	}
}
