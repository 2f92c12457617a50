// Package route is GET /api/admin/stats, guarded by the app's middleware.
package route

import (
	"net/http"

	"example.com/api/lib/users"
	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

// GET reports how many users are stored, and the request id the middleware
// assigned.
func GET(w http.ResponseWriter, r *http.Request) {
	if err := users.Seed(); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	keys, err := kv.Keys("user:")
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	guest.JSON(w, http.StatusOK, struct {
		Users     int    `json:"users"`
		RequestID string `json:"requestId"`
	}{len(keys), r.Header.Get("X-Request-Id")})
}
