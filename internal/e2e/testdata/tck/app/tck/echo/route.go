// Package route implements tck's /tck/echo with the Go SDK.
package route

import (
	"net/http"
	"strconv"
	"strings"
)

// POST streams the body back, 1000 bytes at a time.
func POST(w http.ResponseWriter, r *http.Request) {
	for name, values := range r.Header {
		if strings.HasPrefix(name, "X-Tck-") {
			w.Header()[name] = values
		}
	}
	w.Header().Set("X-Tck-Content-Length", strconv.FormatInt(r.ContentLength, 10))
	buf := make([]byte, 1000)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
	}
}
