package main

import (
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, httpAddr, grpcAddr, store, legacy string, stale, forget time.Duration)
		wantErr bool
	}{
		{
			name: "defaults",
			check: func(t *testing.T, httpAddr, grpcAddr, store, legacy string, stale, forget time.Duration) {
				if httpAddr != ":8000" || grpcAddr != ":9090" || store != "memory" || legacy != "legacy" || stale != 5*time.Minute || forget != 24*time.Hour {
					t.Errorf("got %s %s %s %s %v %v", httpAddr, grpcAddr, store, legacy, stale, forget)
				}
			},
		},
		{
			name: "environment fallbacks",
			env: map[string]string{
				"MUSTER_HTTP_ADDR": ":1", "MUSTER_GRPC_ADDR": ":2", "MUSTER_STALE_AFTER": "90s",
				"MUSTER_FORGET_AFTER": "1h", "MUSTER_LEGACY_WORKER_ID": "old", "MUSTER_LOG_FORMAT": "json",
			},
			check: func(t *testing.T, httpAddr, grpcAddr, _, legacy string, stale, forget time.Duration) {
				if httpAddr != ":1" || grpcAddr != ":2" || legacy != "old" || stale != 90*time.Second || forget != time.Hour {
					t.Errorf("got %s %s %s %v %v", httpAddr, grpcAddr, legacy, stale, forget)
				}
			},
		},
		{
			name: "flags win over the environment",
			args: []string{"--http-addr=:3", "--stale-after=2s"},
			env:  map[string]string{"MUSTER_HTTP_ADDR": ":1", "MUSTER_STALE_AFTER": "90s"},
			check: func(t *testing.T, httpAddr, _, _, _ string, stale, _ time.Duration) {
				if httpAddr != ":3" || stale != 2*time.Second {
					t.Errorf("got %s %v", httpAddr, stale)
				}
			},
		},
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
			cfg, err := parseConfig(tt.args, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && tt.check != nil {
				tt.check(t, cfg.HTTPAddr, cfg.GRPCAddr, cfg.Store, cfg.LegacyWorkerID, cfg.StaleAfter, cfg.ForgetAfter)
			}
		})
	}
}
