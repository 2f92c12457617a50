// Package route tags its response with ?n= tags, or one tag of ?long=
// bytes: past the limits it is served and not cached.
package route

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers {"n": runs}.
func GET(w http.ResponseWriter, r *http.Request) {
	count, _ := strconv.Atoi(r.URL.Query().Get("n"))
	for i := range count {
		guest.CacheTag(w, "t"+strconv.Itoa(i))
	}
	if long, _ := strconv.Atoi(r.URL.Query().Get("long")); long > 0 {
		guest.CacheTag(w, strings.Repeat("x", long))
	}
	n, _ := kv.Incr("tags"+r.URL.RawQuery, 1)
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
