// Package route implements tck's /tck/head/[...rest] with the Go SDK.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET answers what the guest received of the request head.
func GET(w http.ResponseWriter, r *http.Request) {
	var header []string
	for name, values := range r.Header {
		for _, v := range values {
			header = append(header, name, v)
		}
	}
	guest.JSON(w, http.StatusOK, map[string]any{"method": r.Method, "uri": r.RequestURI, "proto": r.Proto,
		"host": r.Host, "contentLength": r.ContentLength, "params": []string{"rest", r.PathValue("rest")}, "header": header})
}

// DELETE is GET.
var DELETE = GET
