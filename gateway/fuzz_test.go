package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	musterv1 "github.com/musterhq/muster/gen/muster/v1"
	"google.golang.org/protobuf/proto"
)

// bodyTargets are the messages a request body is decoded into.
var bodyTargets = []func() proto.Message{
	func() proto.Message { return &musterv1.ExtractionStatus{} },
	func() proto.Message { return &musterv1.CircuitBreaker{} },
	func() proto.Message { return &musterv1.PerformanceMetrics{} },
	func() proto.Message { return &musterv1.ErrorEvent{} },
	func() proto.Message { return &musterv1.LogEntry{} },
	func() proto.Message { return &musterv1.CompletedExtraction{} },
	func() proto.Message { return &musterv1.HeartbeatRequest{} },
}

// FuzzDecodeBody feeds arbitrary bodies to the legacy decoder: it must never
// panic, must refuse with a FieldError (or io.EOF for an empty body), and
// whatever it accepts must encode to valid JSON that decodes again.
func FuzzDecodeBody(f *testing.F) {
	cases, _ := filepath.Glob("../cmd/musterd/testdata/cases/*.json")
	for _, path := range cases {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var c struct {
			Steps []struct {
				Body json.RawMessage `json:"body"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			f.Fatal(err)
		}
		for _, s := range c.Steps {
			if len(s.Body) > 0 {
				f.Add([]byte(s.Body))
			}
		}
	}
	f.Add([]byte(`{"success_rate": "95.6%", "state": "half_open", "started_at": 1700000000.5}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range bodyTargets {
			m := target()
			err := decodeBody(body, m)
			var ferr *FieldError
			switch {
			case errors.Is(err, io.EOF) || errors.As(err, &ferr):
				continue
			case err != nil:
				t.Fatalf("%T: unexpected error kind %v", m, err)
			}
			out := appendMessage(nil, m.ProtoReflect())
			if !json.Valid(out) {
				t.Fatalf("%T: encoded invalid JSON %q", m, out)
			}
			if err := decodeBody(out, target()); err != nil {
				t.Fatalf("%T: re-decoding %s: %v", m, out, err)
			}
		}
		var breakers map[string]*musterv1.CircuitBreaker
		_ = decodeBody(body, &breakers)
	})
}
