package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// readMethods are the RPCs that only read; every other RPC writes.
var readMethods = map[string]bool{
	"/muster.v1.MonitoringService/GetWorker":    true,
	"/muster.v1.MonitoringService/ListWorkers":  true,
	"/muster.v1.MonitoringService/GetAggregate": true,
	"/muster.v1.MonitoringService/GetStatus":    true,
	"/muster.v1.MonitoringService/Watch":        true,
}

// authenticator checks bearer tokens: the write token for writes, the read
// token (or the write token) for reads. An empty token leaves that side
// open. REST requests pass through here too, since the gateway forwards the
// Authorization header as metadata.
type authenticator struct {
	write, read [sha256.Size]byte
	writeSet    bool
	readSet     bool
}

func newAuthenticator(writeToken, readToken string) *authenticator {
	return &authenticator{
		write: sha256.Sum256([]byte(writeToken)), writeSet: writeToken != "",
		read: sha256.Sum256([]byte(readToken)), readSet: readToken != "",
	}
}

// check returns nil when the request in ctx may call method.
func (a *authenticator) check(ctx context.Context, method string) error {
	isRead := readMethods[method]
	if (isRead && !a.readSet) || (!isRead && !a.writeSet) {
		return nil // that side is open
	}
	token, ok := bearer(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "missing bearer token (Authorization: Bearer <token>)")
	}
	// Compare digests, so that the comparison takes the same time whatever
	// the token's length or content.
	sum := sha256.Sum256([]byte(token))
	valid := a.writeSet && subtle.ConstantTimeCompare(sum[:], a.write[:]) == 1
	if isRead {
		valid = valid || subtle.ConstantTimeCompare(sum[:], a.read[:]) == 1
	}
	if !valid {
		return status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return nil
}

func bearer(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if scheme, token, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "bearer") && token != "" {
			return strings.TrimSpace(token), true
		}
	}
	return "", false
}

func (a *authenticator) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := a.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func (a *authenticator) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := a.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
