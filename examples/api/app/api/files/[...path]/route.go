// Package route is GET /api/files/[...path]: a catch-all segment.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET returns the matched path, such as "docs/readme.md". It is data, never
// a file to open.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"fullPath": r.PathValue("path")})
}
