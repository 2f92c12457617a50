// Package route revalidates what its query names: ?tag=, ?path=, or
// ?expire= (a tag).
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// POST revalidates and answers 204, or 400 with the error.
func POST(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var err error
	switch {
	case q.Has("tag"):
		err = guest.RevalidateTag(q.Get("tag"))
	case q.Has("path"):
		err = guest.RevalidatePath(q.Get("path"))
	case q.Has("expire"):
		err = guest.ExpireTag(q.Get("expire"))
	}
	if err != nil {
		guest.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
