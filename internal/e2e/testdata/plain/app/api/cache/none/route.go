// Package route sets no segment config and no Cache-Control: not cached,
// as Next.js 15 does not cache GET handlers by default.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("none", 1)
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
