package app

import "net/http"

// Matcher keeps this middleware to one path.
var Matcher = []string{"/api/mwpanic"}

// Middleware panics: the host must answer 500 and keep serving.
var Middleware = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	panic("middleware boom")
})
