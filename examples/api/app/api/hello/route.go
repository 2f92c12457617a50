// Package route is GET /api/hello.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

var hello = struct {
	Message string `json:"message"`
}{"Hello World"}

// GET answers with a greeting.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, hello)
}
