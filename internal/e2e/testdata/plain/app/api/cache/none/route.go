// Package route sets no segment config and no Cache-Control: not cached,
// as Next.js 15 does not cache GET handlers by default. A store that fails
// is a 500.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, err := kv.Incr("none", 1)
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
