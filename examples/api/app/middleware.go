// Package app holds the example's middleware, which runs before every route
// under /api.
package app

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// Matcher limits the middleware to these paths, as Next.js's config.matcher.
var Matcher = []string{"/api/:path*"}

// Middleware tags every request and response with an X-Request-Id, guards
// /api/admin/, and keeps an old URL working by rewriting it.
func Middleware(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	w.Header().Set("X-Request-Id", id) // added to the route's response
	r.Header.Set("X-Request-Id", id)   // seen by the route

	if strings.HasPrefix(r.URL.Path, "/api/admin/") && r.Header.Get("X-Admin") != "1" {
		guest.Error(w, http.StatusForbidden, "Forbidden") // answers; the route never runs
		return
	}
	if r.URL.Path == "/api/legacy-hello" {
		guest.Rewrite(w, "/api/hello")
	}
}
