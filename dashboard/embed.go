// Package dashboard owns Muster's web UI: the React/TypeScript source in
// this directory, built by Vite into dist/ (npm run build, `make dashboard`)
// and embedded into musterd, so the binary serves the dashboard on its own.
//
// dist/ holds only a committed placeholder (.gitkeep) until the dashboard is
// built, so a fresh clone builds and vets without Node; musterd then serves
// fallback.html, which says how to build the dashboard.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

//go:embed fallback.html
var fallback []byte

// Handler serves the dashboard: the built assets when dist/ was built
// before musterd, the fallback page otherwise. The gateway routes /api/
// elsewhere, so API paths never reach it.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; its absence is a build bug
	}
	return handler(sub)
}

func handler(assets fs.FS) http.Handler {
	if _, err := fs.Stat(assets, "index.html"); err != nil {
		return http.HandlerFunc(serveFallback)
	}
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch {
		case strings.HasPrefix(name, ".") || strings.Contains(name, "/."):
			http.NotFound(w, r) // the placeholder and any other dotfile
			return
		case strings.HasPrefix(name, "assets/"):
			// Vite names assets by content hash: they never change.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		default:
			// index.html names the current assets: always revalidate.
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

func serveFallback(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/index.html" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(fallback)
}
