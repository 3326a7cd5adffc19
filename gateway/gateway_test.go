package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestRequestsRefusedBeforeTheService covers what the HTTP layer answers on
// its own; the gRPC connection is never dialled for these.
func TestRequestsRefusedBeforeTheService(t *testing.T) {
	t.Parallel()
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	dashboard := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("dashboard")) })
	h, err := New(context.Background(), conn, Options{Dashboard: dashboard, MaxBodyBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantField                string
	}{
		{"empty worker id", "POST", "/api/monitoring/worker//extraction_status", `{}`, 400, "worker_id"},
		{"encoded slash in worker id", "POST", "/api/monitoring/worker/a%2Fb/log", `{}`, 400, "worker_id"},
		{"body over the limit", "POST", "/api/monitoring/log", `{"message": "` + strings.Repeat("x", 100) + `"}`, 413, ""},
		{"unknown API path", "GET", "/api/monitoring/nope", "", 404, ""},
		{"wrong method", "PUT", "/api/monitoring/workers", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Code != tt.wantCode || body.Message == "" {
				t.Errorf("body %s is not a JSON error naming the problem (%v)", rec.Body, err)
			}
			if body.Field != tt.wantField {
				t.Errorf("field = %q, want %q", body.Field, tt.wantField)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() != "dashboard" {
		t.Errorf("GET / = %q, want the dashboard", rec.Body)
	}
}
