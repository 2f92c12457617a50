// Package route answers public, s-maxage=60: cached even for requests
// with credentials.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("public", 1)
	w.Header().Set("Cache-Control", "public, s-maxage=60")
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
