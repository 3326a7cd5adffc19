package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHandler(t *testing.T) {
	t.Parallel()
	built := fstest.MapFS{
		".gitkeep":         {},
		"index.html":       {Data: []byte("<title>built</title>")},
		"assets/app-1a.js": {Data: []byte("console.log(1)")},
	}
	unbuilt := fstest.MapFS{".gitkeep": {}}
	tests := []struct {
		name       string
		assets     fstest.MapFS
		path       string
		wantStatus int
		wantBody   string
		wantCache  string
	}{
		{"built index", built, "/", 200, "<title>built</title>", "no-cache"},
		{"built asset", built, "/assets/app-1a.js", 200, "console.log(1)", "public, max-age=31536000, immutable"},
		{"placeholder hidden", built, "/.gitkeep", 404, "", ""},
		{"built missing file", built, "/nope.js", 404, "", ""},
		{"fallback index", unbuilt, "/", 200, "dashboard not built — run <code>make dashboard</code>", "no-cache"},
		{"fallback other path", unbuilt, "/assets/app.js", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, handler(tt.assets), tt.path)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s: status %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s: body %q does not contain %q", tt.path, body, tt.wantBody)
			}
			if got := resp.Header.Get("Cache-Control"); tt.wantCache != "" && got != tt.wantCache {
				t.Errorf("GET %s: Cache-Control %q, want %q", tt.path, got, tt.wantCache)
			}
		})
	}
}

// TestEmbedded checks the real embedded files: built or not, / answers 200.
func TestEmbedded(t *testing.T) {
	t.Parallel()
	resp, body := get(t, Handler(), "/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("GET /: status %d, body %.200q", resp.StatusCode, body)
	}
}
