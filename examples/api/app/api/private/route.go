// Package route is GET /api/private: a handler behind a bearer token.
package route

import (
	"net/http"
	"os"

	"example.com/api/lib/auth"
	"github.com/wasmroute/wasmroute/guest"
)

func get(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, struct {
		Message string `json:"message"`
		App     string `json:"app"`
	}{"Welcome to the private area", os.Getenv("APP_NAME")})
}

// GET composes the handler with the auth wrapper, as any net/http middleware.
var GET = auth.WithToken(get)
