// Package dashboard owns Muster's web UI. The built assets in dist/ are
// embedded into musterd, so the binary serves the dashboard on its own.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed dist
var dist embed.FS

// Handler serves the dashboard.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; its absence is a build bug
	}
	return http.FileServerFS(sub)
}
