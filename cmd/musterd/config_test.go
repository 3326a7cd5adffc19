package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/musterhq/muster/server"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	defaults := server.Config{
		HTTPAddr: ":8000", GRPCAddr: ":9090", Store: "file", DataDir: "./muster-data", LegacyWorkerID: "legacy",
		StaleAfter: 5 * time.Minute, ForgetAfter: 24 * time.Hour, MaxWorkers: 100_000,
	}
	dir := t.TempDir()
	tokenFile, emptyFile := filepath.Join(dir, "token"), filepath.Join(dir, "empty")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(emptyFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	with := func(change func(*server.Config)) server.Config {
		c := defaults
		change(&c)
		return c
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    server.Config
		wantErr bool
	}{
		{name: "defaults", want: defaults},
		{
			name: "environment fallbacks",
			env: map[string]string{
				"MUSTER_HTTP_ADDR": ":1", "MUSTER_GRPC_ADDR": ":2", "MUSTER_STORE": "memory", "MUSTER_DATA_DIR": "/d", "MUSTER_STALE_AFTER": "90s",
				"MUSTER_FORGET_AFTER": "1h", "MUSTER_LEGACY_WORKER_ID": "old", "MUSTER_LOG_FORMAT": "json",
				"MUSTER_CORS_ORIGIN": "http://a:1",
			},
			want: with(func(c *server.Config) {
				c.Store, c.DataDir = "memory", "/d"
				c.HTTPAddr, c.GRPCAddr, c.StaleAfter, c.ForgetAfter, c.LegacyWorkerID = ":1", ":2", 90*time.Second, time.Hour, "old"
				c.CORSOrigins = []string{"http://a:1"}
			}),
		},
		{
			name: "flags win over the environment",
			args: []string{"--http-addr=:3", "--stale-after=2s"},
			env:  map[string]string{"MUSTER_HTTP_ADDR": ":1", "MUSTER_STALE_AFTER": "90s"},
			want: with(func(c *server.Config) { c.HTTPAddr, c.StaleAfter = ":3", 2*time.Second }),
		},
		{
			name: "CORS origins from a list",
			args: []string{"--cors-origin= http://a:1 ,http://b:2,"},
			want: with(func(c *server.Config) { c.CORSOrigins = []string{"http://a:1", "http://b:2"} }),
		},
		{
			name: "auth tokens, from files too",
			args: []string{"--auth-token-file=" + tokenFile, "--read-token=r", "--allow-legacy-unauthenticated"},
			want: with(func(c *server.Config) {
				c.AuthToken, c.ReadToken, c.AllowLegacyUnauthenticated = "from-file", "r", true
			}),
		},
		{name: "empty token file", args: []string{"--read-token-file=" + emptyFile}, wantErr: true},
		{name: "missing token file", args: []string{"--auth-token-file=/nonexistent/token"}, wantErr: true},
		{name: "worker cap", args: []string{"--max-workers=10"}, want: with(func(c *server.Config) { c.MaxWorkers = 10 })},
		{name: "TLS", args: []string{"--tls-cert=c.pem", "--tls-key=k.pem"}, want: with(func(c *server.Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" })},
		{name: "TLS cert without key", args: []string{"--tls-cert=c.pem"}, wantErr: true},
		{name: "zero worker cap", args: []string{"--max-workers=0"}, wantErr: true},
		{name: "bad duration flag", args: []string{"--stale-after=soon"}, wantErr: true},
		{name: "bad duration env", env: map[string]string{"MUSTER_FORGET_AFTER": "soon"}, wantErr: true},
		{name: "non-positive duration", args: []string{"--stale-after=0s"}, wantErr: true},
		{name: "bad log format", args: []string{"--log-format=xml"}, wantErr: true},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseConfig(tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Logger == nil {
				t.Error("no logger")
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(server.Config{}, "Logger")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
