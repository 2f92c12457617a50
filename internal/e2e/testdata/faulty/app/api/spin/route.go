package route

import (
	"io"
	"net/http"
)

// MaxDuration stops this route's requests after one second.
const MaxDuration = 1

var sink int

// GET loops forever (?stream=1: after sending part of a response), or
// answers at once with ?ok=1.
func GET(w http.ResponseWriter, r *http.Request) {
	switch r.URL.RawQuery {
	case "ok=1":
		io.WriteString(w, "fine")
		return
	case "stream=1":
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
	}
	for i := 0; ; i++ {
		sink += i
	}
}
