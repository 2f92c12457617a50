// Package route answers ?size= bytes, cached for 60 seconds if they fit.
package route

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers the run count, padded to ?size= bytes.
func GET(w http.ResponseWriter, r *http.Request) {
	size, _ := strconv.Atoi(r.URL.Query().Get("size"))
	n, _ := kv.Incr("big"+r.URL.RawQuery, 1)
	body := strconv.FormatInt(n, 10)
	w.Write([]byte(body + strings.Repeat(" ", max(size-len(body), 0))))
}
