// Package route counts the requests its instance has served: with
// isolation = "request" (wasmroute.toml), every request is the first.
package route

import (
	"io"
	"net/http"
	"strconv"
)

var served int

// GET answers how many requests this instance has served, this one
// included.
func GET(w http.ResponseWriter, r *http.Request) {
	served++
	io.WriteString(w, strconv.Itoa(served))
}
