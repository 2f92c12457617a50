// Package auth is bearer-token middleware for the example's routes.
package auth

import (
	"crypto/subtle"
	"net/http"
	"os"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// WithToken wraps next so that it runs only for requests carrying
// "Authorization: Bearer <API_TOKEN>"; others get 401.
func WithToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		want := os.Getenv("API_TOKEN")
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			guest.Error(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		next(w, r)
	}
}
