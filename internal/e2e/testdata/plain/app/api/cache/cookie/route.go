// Package route would be cached, but sets a cookie: never stored.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
	"github.com/wasmroute/wasmroute/guest/kv"
)

const Revalidate = 60

// GET answers {"n": runs} with a cookie.
func GET(w http.ResponseWriter, r *http.Request) {
	n, _ := kv.Incr("cookie", 1)
	http.SetCookie(w, &http.Cookie{Name: "session", Value: "x"})
	guest.JSON(w, http.StatusOK, map[string]int64{"n": n})
}
