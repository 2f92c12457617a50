// Package route is GET /api/hello.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET answers with a greeting.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"message": "Hello World"})
}
