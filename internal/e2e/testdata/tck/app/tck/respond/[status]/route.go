// Package route implements tck's /tck/respond/[status] with the Go SDK.
package route

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// GET answers the status in the path, with the headers of the query.
func GET(w http.ResponseWriter, r *http.Request) {
	code, _ := strconv.Atoi(r.PathValue("status"))
	for _, kv := range r.URL.Query()["header"] {
		name, value, _ := strings.Cut(kv, ":")
		w.Header()[name] = append(w.Header()[name], value)
	}
	w.WriteHeader(code)
	if code >= 200 && code != 204 && code != 304 {
		io.WriteString(w, "status "+strconv.Itoa(code))
	}
}
