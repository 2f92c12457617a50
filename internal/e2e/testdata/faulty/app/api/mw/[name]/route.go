// Package route is /api/mw/[name], behind the middleware.
package route

import (
	"io"
	"net/http"
)

// GET shows what the middleware left in the request; /api/mw/panic panics
// after setting a header of its own.
func GET(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("name") == "panic" {
		w.Header().Set("X-Route", "1")
		panic("route boom")
	}
	io.WriteString(w, r.PathValue("name")+" "+r.Header.Get("X-Mw")+" "+r.URL.RawQuery)
}

// POST echoes the body, which the middleware left unread.
func POST(w http.ResponseWriter, r *http.Request) {
	io.Copy(w, r.Body)
}
