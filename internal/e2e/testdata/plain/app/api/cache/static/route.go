// Package route is cached until revalidated (Revalidate = false).
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = false

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("static", 1)
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
