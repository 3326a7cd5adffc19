package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/internal/testserver"
)

// The contract cases (CONTRACT.md and ../shared/cases) replayed against an
// in-process musterd configured by the real flag parser, one fresh server
// per case. testdata/cases pins the cases this tree was built against; the
// shared directory, when present beside the repository, may hold newer ones.

type contractCase struct {
	Name       string         `json:"name"`
	ServerArgs []string       `json:"server_args"`
	Steps      []contractStep `json:"steps"`
}

type contractStep struct {
	Method    string          `json:"method"`
	Path      string          `json:"path"`
	Body      json.RawMessage `json:"body"`
	Status    json.RawMessage `json:"status"`
	Expect    map[string]any  `json:"expect"`
	Absent    []string        `json:"absent"`
	JSONError bool            `json:"json_error"`
	Sleep     *float64        `json:"sleep"`
}

func TestContractCases(t *testing.T) {
	files := map[string]string{}
	for _, dir := range []string{"testdata/cases", "../../../shared/cases"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range matches {
			files[filepath.Base(f)] = f
		}
	}
	if len(files) == 0 {
		t.Fatal("no contract cases found")
	}
	for name, path := range files {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var c contractCase
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			for _, s := range c.Steps {
				if s.Sleep != nil && testing.Short() {
					t.Skip("case sleeps; skipped under -short")
				}
			}
			base := startServer(t, c.ServerArgs...)
			for i, step := range c.Steps {
				if step.Sleep != nil {
					time.Sleep(time.Duration(*step.Sleep * float64(time.Second)))
					continue
				}
				runStep(t, base, fmt.Sprintf("step %d %s %s", i, step.Method, step.Path), step)
			}
		})
	}
}

// startServer runs musterd in-process, configured by the real flag parser
// with the given extra flags, and returns its HTTP base URL.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := parseConfig(append([]string{"--http-addr=127.0.0.1:0", "--grpc-addr=127.0.0.1:0", "--store=memory"}, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = nil // quiet: testserver discards logs
	return testserver.Start(t, cfg).HTTPURL
}

func runStep(t *testing.T, base, where string, step contractStep) {
	t.Helper()
	method := step.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if len(step.Body) > 0 {
		raw := step.Body
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = []byte(s) // a raw string body is sent as is
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+step.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !statusMatches(step.Status, resp.StatusCode) {
		t.Errorf("%s: HTTP %d, want %s: %s", where, resp.StatusCode, step.Status, raw)
		return
	}
	if len(step.Expect) == 0 && len(step.Absent) == 0 && !step.JSONError {
		return
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Errorf("%s: body is not JSON: %s", where, raw)
		return
	}
	if _, ok := doc.(map[string]any); step.JSONError && !ok {
		t.Errorf("%s: error body is not a JSON object: %s", where, raw)
	}
	for path, want := range step.Expect {
		got, err := lookupPath(doc, path)
		if err != nil {
			t.Errorf("%s: %s missing (%v)", where, path, err)
			continue
		}
		if !sameValue(got, want) {
			t.Errorf("%s: %s = %#v, want %#v", where, path, got, want)
		}
	}
	for _, path := range step.Absent {
		if _, err := lookupPath(doc, path); err == nil {
			t.Errorf("%s: %s present, want absent", where, path)
		}
	}
}

func statusMatches(want json.RawMessage, got int) bool {
	if len(want) == 0 {
		return got == http.StatusOK
	}
	var one int
	if json.Unmarshal(want, &one) == nil {
		return got == one
	}
	var many []int
	_ = json.Unmarshal(want, &many)
	for _, w := range many {
		if got == w {
			return true
		}
	}
	return false
}

var (
	lenExpr    = regexp.MustCompile(`^len\((.*)\)$`)
	selectExpr = regexp.MustCompile(`^(\w*)\[(\w+)=([^\]]*)\]$`)
)

// lookupPath follows the case format's dotted paths: object keys, list
// indexes, "list[field=value]" selection and "len(path)".
func lookupPath(doc any, path string) (any, error) {
	if m := lenExpr.FindStringSubmatch(path); m != nil {
		v, err := lookupPath(doc, m[1])
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case []any:
			return float64(len(x)), nil
		case map[string]any:
			return float64(len(x)), nil
		case string:
			return float64(len(x)), nil
		}
		return nil, fmt.Errorf("len of %T", v)
	}
	for _, part := range strings.Split(path, ".") {
		if m := selectExpr.FindStringSubmatch(part); m != nil {
			if m[1] != "" {
				obj, ok := doc.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: not an object", part)
				}
				doc = obj[m[1]]
			}
			list, _ := doc.([]any)
			var found any
			for _, e := range list {
				if obj, ok := e.(map[string]any); ok && fmt.Sprint(obj[m[2]]) == m[3] {
					found = e
					break
				}
			}
			if found == nil {
				return nil, fmt.Errorf("%s: no match", part)
			}
			doc = found
			continue
		}
		switch x := doc.(type) {
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("%s: bad index", part)
			}
			doc = x[i]
		case map[string]any:
			v, ok := x[part]
			if !ok {
				return nil, fmt.Errorf("%s: no key", part)
			}
			doc = v
		default:
			return nil, fmt.Errorf("%s: not a container", part)
		}
	}
	return doc, nil
}

// sameValue compares as the case runner does: numbers within 0.051, other
// values exactly.
func sameValue(got, want any) bool {
	if w, ok := want.(float64); ok {
		g, ok := got.(float64)
		return ok && math.Abs(g-w) <= 0.051
	}
	return reflect.DeepEqual(got, want)
}
