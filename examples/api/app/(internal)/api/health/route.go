// Package route is GET /api/health, in the (internal) route group: the group
// folder is not part of the URL.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET reports that the app is up.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
