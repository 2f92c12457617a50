package route

import (
	"io"
	"net/http"
)

// POST answers "started", holds its instance until the request body ends,
// then answers "done".
func POST(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "started\n")
	w.(http.Flusher).Flush()
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "done")
}
