package app

import "net/http"

// Matcher keeps this middleware to a few paths.
var Matcher = []string{"/api/mwpanic", "/api/mw/:path*"}

// Middleware panics on /api/mwpanic (no route there, so the middleware module
// runs) and with ?panic=1 (a route there, so it runs inside the route's
// module); the host must answer 500 and keep serving. Under /api/mw/ it also
// adds headers, answers with ?answer=1 and rewrites with ?rewrite=1.
var Middleware = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path == "/api/mwpanic" || q.Get("panic") == "1" {
		panic("middleware boom")
	}
	r.Header.Set("X-Mw", "seen")
	w.Header().Set("X-Mw-Response", "1")
	switch {
	case q.Get("answer") == "1":
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("middleware answered"))
	case q.Get("rewrite") == "1":
		w.Header().Set("X-Middleware-Rewrite", "/api/mw/rewritten?from="+r.URL.Path)
	}
})
