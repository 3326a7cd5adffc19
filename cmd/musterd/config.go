package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/musterhq/muster/server"
)

// parseConfig turns flags, with MUSTER_* environment variables as
// fallbacks, into the server's Config. Flags win over the environment.
func parseConfig(args []string, getenv func(string) string) (server.Config, error) {
	var cfg server.Config
	fs := flag.NewFlagSet("musterd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(name, def string) string {
		if v := getenv("MUSTER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
			return v
		}
		return def
	}
	durationEnv := func(name string, def time.Duration) (time.Duration, error) {
		v := env(name, "")
		if v == "" {
			return def, nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("MUSTER_%s: %w", strings.ToUpper(strings.ReplaceAll(name, "-", "_")), err)
		}
		return d, nil
	}
	staleDefault, err := durationEnv("stale-after", 5*time.Minute)
	if err != nil {
		return cfg, err
	}
	forgetDefault, err := durationEnv("forget-after", 24*time.Hour)
	if err != nil {
		return cfg, err
	}
	fs.StringVar(&cfg.HTTPAddr, "http-addr", env("http-addr", ":8000"), "REST facade and dashboard address")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", env("grpc-addr", ":9090"), "gRPC API address")
	fs.StringVar(&cfg.Store, "store", env("store", "file"), `state store: "file" (durable, in --data-dir), "memory", or "redis://host:port/db" (replicas sharing one fleet)`)
	fs.StringVar(&cfg.DataDir, "data-dir", env("data-dir", "./muster-data"), "directory of the file store")
	fs.DurationVar(&cfg.StaleAfter, "stale-after", staleDefault, "silence after which a worker is stale")
	fs.DurationVar(&cfg.ForgetAfter, "forget-after", forgetDefault, "silence after which a worker is forgotten")
	maxWorkers, err := strconv.Atoi(env("max-workers", "100000"))
	if err != nil {
		return cfg, fmt.Errorf("MUSTER_MAX_WORKERS: %w", err)
	}
	fs.IntVar(&cfg.MaxWorkers, "max-workers", maxWorkers, "cap on known workers; when full of fresh ones, new workers get 429")
	perWorker, err := strconv.Atoi(env("metrics-per-worker", "0"))
	if err != nil {
		return cfg, fmt.Errorf("MUSTER_METRICS_PER_WORKER: %w", err)
	}
	fs.IntVar(&cfg.MetricsPerWorker, "metrics-per-worker", perWorker, "per-worker series in /metrics for at most this many workers (0: none)")
	fs.StringVar(&cfg.LegacyWorkerID, "legacy-worker-id", env("legacy-worker-id", "legacy"), "worker id of updates on the legacy paths")
	corsOrigins := fs.String("cors-origin", env("cors-origin", ""), "comma-separated origins admitted by CORS and the WebSocket origin check (default none)")
	fs.StringVar(&cfg.AuthToken, "auth-token", env("auth-token", ""), "bearer token required on every write (default none: open)")
	authTokenFile := fs.String("auth-token-file", env("auth-token-file", ""), "file holding --auth-token (e.g. a mounted Kubernetes secret)")
	fs.StringVar(&cfg.ReadToken, "read-token", env("read-token", ""), "bearer token required on reads, the watch and the dashboard (default none: open)")
	readTokenFile := fs.String("read-token-file", env("read-token-file", ""), "file holding --read-token")
	fs.BoolVar(&cfg.AllowLegacyUnauthenticated, "allow-legacy-unauthenticated", env("allow-legacy-unauthenticated", "") == "true",
		"let the legacy write paths through without a token (deployed scripts cannot send headers)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", env("tls-cert", ""), "TLS certificate (PEM) for both listeners")
	fs.StringVar(&cfg.TLSKey, "tls-key", env("tls-key", ""), "TLS private key (PEM) for --tls-cert")
	logFormat := fs.String("log-format", env("log-format", "text"), `log format: "text" or "json"`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: musterd [flags]\n\nEach flag falls back to MUSTER_<NAME> (--http-addr: MUSTER_HTTP_ADDR).\n\nflags:")
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.MaxWorkers <= 0 {
		return cfg, errors.New("--max-workers must be positive")
	}
	if cfg.StaleAfter <= 0 || cfg.ForgetAfter <= 0 {
		return cfg, errors.New("--stale-after and --forget-after must be positive")
	}
	for _, f := range []struct {
		path  string
		token *string
	}{{*authTokenFile, &cfg.AuthToken}, {*readTokenFile, &cfg.ReadToken}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return cfg, fmt.Errorf("token file: %w", err)
		}
		if *f.token = strings.TrimSpace(string(data)); *f.token == "" {
			return cfg, fmt.Errorf("token file %s is empty", f.path)
		}
	}
	for _, o := range strings.Split(*corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.CORSOrigins = append(cfg.CORSOrigins, o)
		}
	}
	switch *logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	default:
		return cfg, fmt.Errorf(`--log-format: want "text" or "json", got %q`, *logFormat)
	}
	return cfg, nil
}
