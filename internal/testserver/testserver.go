// Package testserver runs a real musterd in-process on free loopback ports,
// for tests across the repository.
package testserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Server is a running musterd.
type Server struct {
	// HTTPURL is the base URL of the REST facade ("http://127.0.0.1:port").
	HTTPURL string
	// GRPCAddr is the gRPC listener's address.
	GRPCAddr string
	// Client talks to the gRPC API.
	Client musterv1.MonitoringServiceClient

	conn *grpc.ClientConn
	stop func() error
}

// Start runs server.Run with cfg on free loopback ports (unless cfg names
// addresses), with the memory store unless cfg names one, and stops it when
// the test ends, failing the test if Run returned an error.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.Store == "" {
		cfg.Store = "memory"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	type addrs struct{ http, grpc net.Addr }
	listening := make(chan addrs, 1)
	cfg.OnListening = func(h, g net.Addr) { listening <- addrs{h, g} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	var a addrs
	select {
	case a = <-listening:
	case err := <-done:
		cancel()
		t.Fatalf("server exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	conn, err := grpc.NewClient(a.grpc.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &Server{HTTPURL: "http://" + a.http.String(), GRPCAddr: a.grpc.String(), Client: musterv1.NewMonitoringServiceClient(conn), conn: conn}
	var once sync.Once
	var runErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
			conn.Close()
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return s
}

// Post sends body as JSON to path on the REST facade and returns the HTTP
// status and the decoded answer (nil when it is not a JSON object).
func (s *Server) Post(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.HTTPURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc
}

// PostOK is Post for requests that must succeed.
func (s *Server) PostOK(t testing.TB, path, body string) {
	t.Helper()
	if code, doc := s.Post(t, path, body); code != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %v", path, code, doc)
	}
}

// Get fetches path (on the HTTP listener) and returns the status and body.
func (s *Server) Get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(s.HTTPURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Status returns the legacy status document, read over gRPC.
func (s *Server) Status(t testing.TB) *musterv1.GetStatusResponse {
	t.Helper()
	st, err := s.Client.GetStatus(context.Background(), &musterv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Stop shuts the server down gracefully and returns Run's error. It is safe
// to call more than once.
func (s *Server) Stop() error { return s.stop() }
