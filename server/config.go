package server

import (
	"log/slog"
	"net"
	"time"
)

// Config is everything Run needs. Zero values take the documented defaults.
type Config struct {
	// HTTPAddr is where the REST facade and dashboard listen. Default ":8000".
	HTTPAddr string
	// GRPCAddr is where the gRPC API listens. Default ":9090".
	GRPCAddr string
	// Store names where the fleet is kept besides memory: "file" (durable,
	// in DataDir), "memory", or "redis://host:port/db" (shared by several
	// replicas). Default "file".
	Store string
	// DataDir is where the file store keeps its database. Default "./muster-data".
	DataDir string
	// StaleAfter is how long a silent worker stays fresh. Default 5m.
	StaleAfter time.Duration
	// ForgetAfter is how long a silent worker is kept. Default 24h.
	ForgetAfter time.Duration
	// LegacyWorkerID names the pseudo-worker of the legacy paths. Default "legacy".
	LegacyWorkerID string
	// CORSOrigins lists other origins admitted to the REST API and the
	// WebSocket feed (e.g. "http://localhost:5173"). Default: none.
	CORSOrigins []string
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// on every write, REST or gRPC (and is accepted for reads too).
	AuthToken string
	// ReadToken, when set, is required on every read and watch.
	ReadToken string
	// AllowLegacyUnauthenticated lets the legacy write paths through
	// without a token: the deployed scripts cannot send headers.
	AllowLegacyUnauthenticated bool
	// MaxWorkers caps the known workers (see manager.Options). Default 100,000.
	MaxWorkers int
	// TLSCert and TLSKey, when both set, serve TLS on both listeners.
	TLSCert, TLSKey string
	// MetricsPerWorker, when positive, adds per-worker series to /metrics
	// for at most that many workers. Default 0: none, so cardinality stays
	// bounded.
	MetricsPerWorker int
	// ShutdownTimeout bounds graceful shutdown. Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnListening, if set, is called with the bound addresses once both
	// listeners are open (useful with ":0").
	OnListening func(http, grpc net.Addr)
}

func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8000"
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = ":9090"
	}
	if c.Store == "" {
		c.Store = "file"
	}
	if c.DataDir == "" {
		c.DataDir = "muster-data"
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 5 * time.Minute
	}
	if c.ForgetAfter <= 0 {
		c.ForgetAfter = 24 * time.Hour
	}
	if c.LegacyWorkerID == "" {
		c.LegacyWorkerID = "legacy"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}
