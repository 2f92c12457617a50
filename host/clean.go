package host

import (
	"net/http"

	"github.com/wasmroute/wasmroute/host/router"
)

// redirectUnclean is the stage after the limits: Next.js redirects
// /api/hello/ to /api/hello, and unclean paths (//, /./, /../) get the same
// treatment, a 308 to the clean path with the query kept. It reports
// whether it answered.
func redirectUnclean(rec *recorder, r *http.Request, path string) bool {
	clean := router.Clean(path)
	if clean == path {
		return false
	}
	target := clean
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(rec, r, target, http.StatusPermanentRedirect)
	return true
}
