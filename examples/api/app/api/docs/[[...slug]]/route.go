// Package route is GET /api/docs/[[...slug]]: an optional catch-all segment.
package route

import (
	"net/http"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// GET returns the slug segments: [] at /api/docs, ["a","b"] at /api/docs/a/b.
func GET(w http.ResponseWriter, r *http.Request) {
	slug := []string{}
	if s := r.PathValue("slug"); s != "" {
		slug = strings.Split(s, "/")
	}
	guest.JSON(w, http.StatusOK, map[string]any{"slug": slug})
}
