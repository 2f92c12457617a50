// Package route answers "ok".
package route

import (
	"io"
	"net/http"
)

// GET answers "ok".
func GET(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
