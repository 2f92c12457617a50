// Package route implements tck's /tck/cache with the Go SDK.
package route

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/guest"
)

var generated int

// GET answers a body no earlier answer had, tagged "tck", for a shared
// cache to keep a minute.
func GET(w http.ResponseWriter, r *http.Request) {
	generated++
	w.Header().Set("Cache-Control", "s-maxage=60")
	guest.CacheTag(w, "tck")
	w.Write([]byte("generated " + strconv.Itoa(generated)))
}

// POST calls the revalidation functions and answers their results as the
// ABI's codes.
func POST(w http.ResponseWriter, r *http.Request) {
	code := func(err error) int32 {
		switch {
		case err == nil:
			return 0
		case errors.Is(err, guest.ErrInvalidTag):
			return abi.ErrTagInvalid
		}
		return abi.ErrStore
	}
	guest.JSON(w, http.StatusOK, map[string]int32{
		"tag":      code(guest.RevalidateTag("tck")),
		"path":     code(guest.RevalidatePath("/tck/cache")),
		"expire":   code(guest.ExpireTag("tck")),
		"empty":    code(guest.RevalidateTag("")),
		"long":     code(guest.RevalidateTag(strings.Repeat("x", abi.MaxCacheTag+1))),
		"relative": code(guest.RevalidatePath("tck")),
	})
}
