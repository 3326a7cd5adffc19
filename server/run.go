package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/musterhq/muster/dashboard"
	"github.com/musterhq/muster/gateway"
	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"github.com/musterhq/muster/server/manager"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// flushInterval bounds how much acknowledged state a crash can lose.
const flushInterval = time.Second

// Run serves Muster until ctx ends, then shuts down in a fixed order: the
// watches end, HTTP drains, gRPC stops gracefully (bounded by
// ShutdownTimeout), and the store gets a final flush (deferred, so it
// happens on every return).
func Run(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	log := cfg.Logger

	m := manager.New(manager.Options{
		StaleAfter:     cfg.StaleAfter,
		ForgetAfter:    cfg.ForgetAfter,
		LegacyWorkerID: cfg.LegacyWorkerID,
		MaxWorkers:     cfg.MaxWorkers,
		Now:            cfg.Now,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mt := newMetrics(reg, m, cfg.MetricsPerWorker)
	state, err := openBackend(ctx, cfg, m, mt, log)
	if err != nil {
		return err
	}
	defer state.close()

	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listen: %w", err)
	}
	defer grpcLis.Close()
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	defer httpLis.Close()

	auth := newAuthenticator(cfg.AuthToken, cfg.ReadToken)
	unary := []grpc.UnaryServerInterceptor{recoverUnary(log), mt.unary(), auth.unary()}
	grpcOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(recoverStream(log), mt.stream(), auth.stream()),
	}
	dialCreds := insecure.NewCredentials()
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		serverTLS, loopbackTLS, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(serverTLS)))
		dialCreds = credentials.NewTLS(loopbackTLS)
		httpLis = tls.NewListener(httpLis, serverTLS)
	}
	grpcSrv := grpc.NewServer(grpcOpts...)
	svc := newService(m, state.write, mt, procHostStats())
	musterv1.RegisterMonitoringServiceServer(grpcSrv, svc)
	health := health.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, health)
	reflection.Register(grpcSrv) // so that grpcurl works without the proto files

	// The gateway calls the service through the same interceptors as gRPC
	// clients: unary calls in-process, streams over a loopback connection.
	conn, err := grpc.NewClient(loopback(grpcLis.Addr()), grpc.WithTransportCredentials(dialCreds))
	if err != nil {
		return fmt.Errorf("dial gateway: %w", err)
	}
	defer conn.Close()
	gwConn := newInProcessConn(conn, &musterv1.MonitoringService_ServiceDesc, svc, unary...)
	gwOpts := gateway.Options{
		Dashboard:   dashboard.Handler(),
		CORSOrigins: cfg.CORSOrigins,
		Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Registerer:  reg,
		Ready: func(ctx context.Context) error {
			if m.Closed() {
				return errors.New("shutting down")
			}
			return state.ping(ctx)
		},
	}
	if cfg.AllowLegacyUnauthenticated && cfg.AuthToken != "" {
		gwOpts.LegacyToken = cfg.AuthToken
		log.Warn("legacy write paths accept requests without a token (--allow-legacy-unauthenticated)")
	}
	gw, err := gateway.New(ctx, gwConn, gwOpts)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- grpcSrv.Serve(grpcLis) }()
	go func() { errc <- httpSrv.Serve(httpLis) }()
	attrs := []any{"http", httpLis.Addr().String(), "grpc", grpcLis.Addr().String(), "store", redacted(cfg.Store), "tls", cfg.TLSCert != ""}
	if cfg.Store == "file" {
		attrs = append(attrs, "data_dir", cfg.DataDir)
	}
	log.Info("musterd listening", attrs...)
	if cfg.OnListening != nil {
		cfg.OnListening(httpLis.Addr(), grpcLis.Addr())
	}

	sweep := time.NewTicker(sweepInterval(cfg.StaleAfter))
	defer sweep.Stop()
	flushTick := time.NewTicker(flushInterval)
	defer flushTick.Stop()

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			serveErr = err
			break loop
		case <-sweep.C:
			m.Sweep()
		case <-flushTick.C:
			state.sync()
		}
	}

	log.Info("shutting down")
	health.Shutdown() // NOT_SERVING from here on
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	m.Close() // watches never end on their own
	if err := httpSrv.Shutdown(deadline); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	stopped := make(chan struct{})
	go func() { grpcSrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-deadline.Done():
		grpcSrv.Stop()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return serveErr
	}
	return nil
}

// sweepInterval is how often liveness is checked, so that watchers see a
// silent worker turn stale within a small fraction of StaleAfter.
func sweepInterval(staleAfter time.Duration) time.Duration {
	return min(max(staleAfter/10, 10*time.Millisecond), time.Second)
}

// loopback turns a listener address into a dial target on this host.
func loopback(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		port := 0
		if ok {
			port = tcp.Port
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	return tcp.String()
}
