// Package route sets no segment config; its responses ask a shared cache
// to keep them a second, then serve them stale for 30 while one call
// regenerates them.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("swr", 1)
	w.Header().Set("Cache-Control", "s-maxage=1, stale-while-revalidate=30")
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
