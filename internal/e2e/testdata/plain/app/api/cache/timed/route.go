// Package route is cached for 60 seconds (Revalidate), tagged "posts": its
// body counts how many times the guest ran.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("timed"+r.URL.RawQuery, 1)
	guest.CacheTag(w, "posts")
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
