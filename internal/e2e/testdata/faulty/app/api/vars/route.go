package route

import "net/http"

func withHeader(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Wrapped", "yes")
		next(w, r)
	}
}

func get(w http.ResponseWriter, r *http.Request) { w.Write([]byte("wrapped get")) }

// GET is an http.HandlerFunc var built by a wrapper.
var GET = withHeader(get)

type poster struct{}

func (poster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("handler value"))
}

// POST is an http.Handler.
var POST http.Handler = poster{}

// DELETE is a plain func value.
var DELETE = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }
