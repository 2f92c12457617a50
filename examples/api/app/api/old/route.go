// Package route is GET /api/old: a moved endpoint.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET redirects to /api/hello with 307, as Next.js's redirect() does.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.Redirect(w, r, "/api/hello")
}
