// Package route is GET /api/stream: server-sent events, flushed one by one.
package route

import (
	"fmt"
	"net/http"
	"time"
)

// GET sends five events 100 ms apart.
func GET(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	for i := 1; i <= 5; i++ {
		if i > 1 {
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(w, "data: %d\n\n", i)
		if flusher != nil {
			flusher.Flush()
		}
	}
}
