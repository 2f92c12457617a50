// Package route varies on Accept-Language, cached for 60 seconds.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers the language asked for and the run count.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("vary", 1)
	w.Header().Set("Vary", "Accept-Language")
	guest.JSON(w, http.StatusOK, map[string]any{"lang": r.Header.Get("Accept-Language"), "n": n})
}
