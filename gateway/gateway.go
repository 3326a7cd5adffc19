package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// DefaultMaxBodyBytes is the largest request body accepted by default.
const DefaultMaxBodyBytes = 1 << 20

// Options configure the HTTP handler.
type Options struct {
	// Dashboard serves everything outside /api/. Default: 404.
	Dashboard http.Handler
	// MaxBodyBytes is the largest request body accepted; larger ones are
	// refused with 413. Default 1 MiB.
	MaxBodyBytes int64
	// CORSOrigins lists the other origins (scheme://host:port) admitted to
	// the API and the WebSocket feed. Default: none.
	CORSOrigins []string
	// Metrics serves /metrics. Default: 404.
	Metrics http.Handler
	// Registerer receives the gateway's own metrics (WebSocket feed).
	// Default: a private registry.
	Registerer prometheus.Registerer
	// Ready reports readiness for /readyz. Default: always ready.
	Ready func(context.Context) error
	// LegacyToken, when set, is presented on behalf of requests to the
	// legacy write paths that carry no Authorization header, because the
	// deployed scripts cannot send one. Default: none.
	LegacyToken string
}

// New returns the HTTP handler: the REST facade under /api/, the old
// dashboard's WebSocket feed at /ws/monitoring, /metrics, /healthz,
// /readyz, and the dashboard at /. It calls the gRPC service through conn,
// which must pass every request through the server's interceptors (auth,
// metrics, recovery).
func New(ctx context.Context, conn grpc.ClientConnInterface, opts Options) (http.Handler, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Dashboard == nil {
		opts.Dashboard = http.NotFoundHandler()
	}
	if opts.Metrics == nil {
		opts.Metrics = http.NotFoundHandler()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Ready == nil {
		opts.Ready = func(context.Context) error { return nil }
	}
	api := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, codec{}),
		runtime.WithErrorHandler(writeError),
		runtime.WithForwardResponseRewriter(acknowledgeWrites),
		runtime.WithRoutingErrorHandler(routingError),
		// Lets the service count updates by transport (server/metrics.go).
		runtime.WithMetadata(func(context.Context, *http.Request) metadata.MD {
			return metadata.Pairs("x-muster-transport", "rest")
		}),
	)
	client := musterv1.NewMonitoringServiceClient(conn)
	if err := musterv1.RegisterMonitoringServiceHandlerClient(ctx, api, client); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	apiHandler := cors(opts.CORSOrigins, checkPath(limitBody(vouchForLegacy(opts.LegacyToken, api), opts.MaxBodyBytes)))
	feed := newWSHandler(client, opts.CORSOrigins, opts.Registerer)
	// Not an http.ServeMux: it would answer "//" in a path with a redirect,
	// and API paths must never fall through to the dashboard.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/monitoring/openapi.json":
			serveOpenAPI(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/"):
			apiHandler.ServeHTTP(w, r)
		case r.URL.Path == "/ws/monitoring":
			feed.ServeHTTP(w, r)
		case r.URL.Path == "/metrics":
			opts.Metrics.ServeHTTP(w, r)
		case r.URL.Path == "/healthz":
			writeStatus(w, nil)
		case r.URL.Path == "/readyz":
			writeStatus(w, opts.Ready(r.Context()))
		default:
			opts.Dashboard.ServeHTTP(w, r)
		}
	}), nil
}

// checkPath refuses two kinds of worker id that routing alone would get
// wrong: an empty one ("worker//log"), which would read as the legacy
// worker, and one with an encoded "/", which would not match any route.
func checkPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := ""
		switch {
		case strings.Contains(strings.TrimSuffix(r.URL.Path, "/"), "//"):
			reason = "must not be empty"
		case strings.Contains(strings.ToUpper(r.URL.RawPath), "%2F"):
			reason = `has a character outside A-Z a-z 0-9 . _ : - ("/")`
		}
		if reason != "" {
			writeJSON(w, http.StatusBadRequest, errorBody{
				Code: http.StatusBadRequest, Status: "INVALID_ARGUMENT",
				Message: "worker_id: " + reason, Field: "worker_id", Reason: reason,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeStatus answers a health probe: 200 {"status":"ok"}, or 503 with the
// reason.
func writeStatus(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(appendString([]byte(`{"status":"unavailable","reason":`), err.Error()))
		_, _ = w.Write([]byte("}"))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

// legacyWritePaths are the paths the deployed scripts post to (CONTRACT §2).
var legacyWritePaths = map[string]bool{
	"/api/monitoring/extraction_status":   true,
	"/api/monitoring/circuit_breakers":    true,
	"/api/monitoring/performance":         true,
	"/api/monitoring/error":               true,
	"/api/monitoring/extraction_complete": true,
	"/api/monitoring/log":                 true,
}

// vouchForLegacy presents token for legacy writes that bring none.
func vouchForLegacy(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && legacyWritePaths[r.URL.Path] && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		next.ServeHTTP(w, r)
	})
}

// routingError answers unknown paths and methods with the usual JSON body
// and the right status (grpc-gateway's default turns 405 into 501).
func routingError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpStatus int) {
	status := map[int]string{http.StatusNotFound: "NOT_FOUND", http.StatusMethodNotAllowed: "METHOD_NOT_ALLOWED", http.StatusBadRequest: "INVALID_ARGUMENT"}[httpStatus]
	if status == "" {
		status = "INTERNAL"
	}
	writeJSON(w, httpStatus, errorBody{Code: httpStatus, Status: status, Message: http.StatusText(httpStatus)})
}

// acknowledgeWrites turns the answer to every write into
// {"status": "success", ...}, the legacy scripts' success shape.
func acknowledgeWrites(ctx context.Context, resp proto.Message) (any, error) {
	if method, ok := runtime.RPCMethod(ctx); ok && !isRead(method) {
		return ack{resp}, nil
	}
	return resp, nil
}

// limitBody refuses bodies over max bytes with 413 before anything is
// decoded, so an oversized request changes nothing.
func limitBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		tooLarge := func() {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{
				Code:    http.StatusRequestEntityTooLarge,
				Status:  "REQUEST_ENTITY_TOO_LARGE",
				Message: fmt.Sprintf("request body exceeds %d bytes", max),
			})
		}
		if r.ContentLength > max {
			tooLarge()
			return
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorBody{Code: http.StatusBadRequest, Status: "INVALID_ARGUMENT", Message: "reading body: " + err.Error()})
			return
		}
		if int64(len(data)) > max {
			tooLarge()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		next.ServeHTTP(w, r)
	})
}
