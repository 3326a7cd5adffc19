package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"help", []string{"bench", "--help"}, 0, "-baselines"},
		{"bad transport", []string{"bench", "--transports=carrier-pigeon"}, 2, `unknown transport "carrier-pigeon"`},
		{"bad kind", []string{"bench", "--kind=gossip"}, 2, `unknown kind "gossip"`},
		{"stray argument", []string{"bench", "now"}, 2, `unexpected argument "now"`},
		{"listed in usage", []string{"help"}, 0, "bench"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &out); code != tt.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

func TestParseBenchDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseBench(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.transports) != 3 || c.kind != "status" || c.workers != 1000 || c.maxWorkers != 100_000 {
		t.Errorf("defaults = %+v", c)
	}
	c, err = parseBench([]string{"--workers=200000"}, &bytes.Buffer{})
	if err != nil || c.maxWorkers != 200_001 {
		t.Errorf("--workers=200000: max workers %d, err %v; want 200001", c.maxWorkers, err)
	}
}
