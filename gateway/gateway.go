package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
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
}

// New returns the HTTP handler: the REST facade under /api/, calling the
// gRPC server over conn so that every interceptor applies to REST traffic
// too, and the dashboard at /.
func New(ctx context.Context, conn *grpc.ClientConn, opts Options) (http.Handler, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Dashboard == nil {
		opts.Dashboard = http.NotFoundHandler()
	}
	api := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, codec{}),
		runtime.WithErrorHandler(writeError),
		runtime.WithForwardResponseRewriter(acknowledgeWrites),
	)
	if err := musterv1.RegisterMonitoringServiceHandlerClient(ctx, api, musterv1.NewMonitoringServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register gateway: %w", err)
	}
	root := http.NewServeMux()
	root.Handle("/api/", limitBody(api, opts.MaxBodyBytes))
	root.Handle("/", opts.Dashboard)
	return root, nil
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
