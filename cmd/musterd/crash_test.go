package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the real musterd binary, kill it, and start it again on
// the same data directory.

func buildMusterd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs musterd; skipped under -short")
	}
	bin := filepath.Join(t.TempDir(), "musterd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type process struct {
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
}

// startMusterd runs musterd on dataDir and waits until it answers.
func startMusterd(t *testing.T, bin, dataDir string) *process {
	t.Helper()
	httpAddr := freeAddr(t)
	cmd := exec.Command(bin, "--http-addr="+httpAddr, "--grpc-addr="+freeAddr(t), "--store=file", "--data-dir="+dataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, base: "http://" + httpAddr + "/api/monitoring", stderr: &stderr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/workers"); err == nil {
			resp.Body.Close()
			return p
		}
	}
	t.Fatalf("musterd did not start:\n%s", stderr.String())
	return nil
}

func (p *process) post(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
}

func (p *process) get(t *testing.T, path string) map[string]any {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &doc) != nil {
		t.Fatalf("GET %s: HTTP %d %s", path, resp.StatusCode, data)
	}
	return doc
}

func report(t *testing.T, p *process, workers int) {
	t.Helper()
	for i := range workers {
		w := fmt.Sprintf("/worker/w%d", i)
		p.post(t, w+"/extraction_status", fmt.Sprintf(`{"status":"running","current_diocese":"D%d","parishes_processed":%d,"total_parishes":100,"success_rate":90}`, i, 10+i))
		p.post(t, w+"/circuit_breakers", `{"webdriver":{"state":"open","total_requests":10,"total_successes":4}}`)
		p.post(t, w+"/error", fmt.Sprintf(`{"type":"E","message":"boom %d","severity":"error"}`, i))
		p.post(t, w+"/log", `{"message":"hello","level":"INFO","worker_type":"discovery"}`)
	}
}

func checkRestored(t *testing.T, p *process, workers int) {
	t.Helper()
	agg := p.get(t, "/aggregate")["extraction_status"].(map[string]any)
	wantProcessed := 0
	for i := range workers {
		wantProcessed += 10 + i
	}
	if agg["total_workers"] != float64(workers) || agg["active_workers"] != float64(workers) || agg["parishes_processed"] != float64(wantProcessed) {
		t.Errorf("aggregate after restart = %v, want %d active workers and %d processed", agg, workers, wantProcessed)
	}
	w := p.get(t, fmt.Sprintf("/worker/w%d", workers-1))
	breaker := w["circuit_breakers"].(map[string]any)["webdriver"].(map[string]any)
	errs := w["recent_errors"].([]any)
	if breaker["state"] != "OPEN" || w["worker_type"] != "discovery" || w["health"] != "fresh" ||
		len(errs) != 1 || errs[0].(map[string]any)["message"] != fmt.Sprintf("boom %d", workers-1) || len(w["recent_logs"].([]any)) != 1 {
		t.Errorf("worker after restart = %v", w)
	}
}

func TestCrashKeepsFlushedState(t *testing.T) {
	t.Parallel()
	bin := buildMusterd(t)
	dir := t.TempDir()
	p := startMusterd(t, bin, dir)
	report(t, p, 20)
	before := p.get(t, "/worker/w3")["last_updated"]
	time.Sleep(1500 * time.Millisecond) // past one flush interval: the documented loss bound
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	p = startMusterd(t, bin, dir)
	checkRestored(t, p, 20)
	if after := p.get(t, "/worker/w3")["last_updated"]; after != before {
		t.Errorf("last_updated after restart = %v, want the stored %v (liveness resumes from it)", after, before)
	}
}

func TestGracefulShutdownFlushes(t *testing.T) {
	t.Parallel()
	bin := buildMusterd(t)
	dir := t.TempDir()
	p := startMusterd(t, bin, dir)
	report(t, p, 5)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil { // at once: no flush tick has passed
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("musterd exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	p = startMusterd(t, bin, dir)
	checkRestored(t, p, 5)
}

func TestUnreadableDataDirRefusesToStart(t *testing.T) {
	t.Parallel()
	bin := buildMusterd(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "muster.db")
	if err := os.WriteFile(db, bytes.Repeat([]byte("garbage "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--http-addr="+freeAddr(t), "--grpc-addr="+freeAddr(t), "--data-dir="+dir).CombinedOutput()
	if err == nil {
		t.Fatal("musterd started on a corrupt store")
	}
	if !strings.Contains(string(out), "muster.db") || !strings.Contains(string(out), "untouched") {
		t.Errorf("error does not say which file and that it was kept:\n%s", out)
	}
	if data, _ := os.ReadFile(db); !bytes.HasPrefix(data, []byte("garbage ")) {
		t.Error("the corrupt store was modified")
	}
}
