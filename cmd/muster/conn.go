package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// connFlags are the connection settings every command that talks to
// musterd over gRPC shares: the same token and TLS options as the client.
type connFlags struct {
	addr, token, tokenFile, caFile string
	useTLS                         bool
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "grpc-addr", envOr("MUSTER_GRPC_ADDR", "localhost:9090"), "musterd gRPC address")
	fs.StringVar(&c.token, "token", os.Getenv("MUSTER_TOKEN"), "bearer token (env MUSTER_TOKEN)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the bearer token")
	fs.BoolVar(&c.useTLS, "tls", false, "use TLS (system roots, or --tls-ca)")
	fs.StringVar(&c.caFile, "tls-ca", "", "PEM file of the CA (or self-signed certificate) to trust; implies --tls")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dial returns an API client and a context carrying the token.
func (c *connFlags) dial(ctx context.Context) (musterv1.MonitoringServiceClient, context.Context, func(), error) {
	creds := insecure.NewCredentials()
	if c.useTLS || c.caFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, nil, nil, err
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, nil, nil, fmt.Errorf("%s: no certificates", c.caFile)
			}
		}
		creds = credentials.NewTLS(cfg)
	}
	token := c.token
	if c.tokenFile != "" {
		data, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, nil, nil, err
		}
		token = strings.TrimSpace(string(data))
	}
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, nil, nil, err
	}
	return musterv1.NewMonitoringServiceClient(conn), ctx, func() { conn.Close() }, nil
}

// parse parses a command's flags, before or after its arguments ("muster
// forget w1 --token=t" as well as "muster forget --token=t w1"). It returns
// the arguments, whether to go on, and the exit code otherwise.
func parse(fs *flag.FlagSet, args []string, wantArgs int) ([]string, bool, int) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, false, 0
			}
			return nil, false, 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != wantArgs {
		fmt.Fprintf(fs.Output(), "%s: want %d argument(s), got %d: %q\n", fs.Name(), wantArgs, len(positional), positional)
		return nil, false, 2
	}
	return positional, true, 0
}
