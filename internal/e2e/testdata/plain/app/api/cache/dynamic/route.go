// Package route is force-dynamic: never cached, whatever it answers.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Dynamic = "force-dynamic"

// GET answers {"n": runs}, asking in vain to be cached.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("dynamic", 1)
	w.Header().Set("Cache-Control", "s-maxage=60")
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
