package route

import (
	"io"
	"net/http"
	"strconv"
)

// POST streams the request body back with its length in a header.
func POST(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Request-Content-Length", strconv.FormatInt(r.ContentLength, 10))
	if _, err := io.Copy(w, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

// PUT reports what the request looked like inside the guest.
func PUT(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "read error: "+err.Error())
		return
	}
	io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.URL.RawQuery+" "+r.Host+" "+r.Header.Get("X-Test")+" "+strconv.Itoa(len(b)))
}
