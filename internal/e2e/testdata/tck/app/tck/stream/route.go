// Package route implements tck's /tck/stream with the Go SDK.
package route

import (
	"fmt"
	"net/http"
	"strconv"
)

// GET streams n lines, flushing each.
func GET(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil {
		n = 3
	}
	w.Header().Set("Content-Type", "text/plain")
	for i := range n {
		fmt.Fprintf(w, "line %d\n", i)
		w.(http.Flusher).Flush()
	}
}
