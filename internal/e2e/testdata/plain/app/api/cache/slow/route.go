// Package route takes 300 ms to answer, cached for 60 seconds: concurrent
// misses must make one call.
package route

import (
	"net/http"
	"time"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers {"n": runs} after 300 ms.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("slow", 1)
	time.Sleep(300 * time.Millisecond)
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
