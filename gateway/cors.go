package gateway

import (
	"net/http"
	"slices"
)

// cors admits the listed origins (e.g. "http://localhost:5173", where the
// old dashboard is served) to the REST API, preflight included. With no
// origins it adds nothing, so browsers keep other origins out.
func cors(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && slices.Contains(origins, origin)
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if allowed {
				w.WriteHeader(http.StatusNoContent)
			} else {
				writeJSON(w, http.StatusForbidden, errorBody{Code: http.StatusForbidden, Status: "PERMISSION_DENIED", Message: "origin " + origin + " is not allowed (see --cors-origin)"})
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}
