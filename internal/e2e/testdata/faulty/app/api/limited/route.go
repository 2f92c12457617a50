package route

import (
	"io"
	"net/http"
	"strconv"
)

// BodyLimit caps this route's request bodies at 100 bytes.
const BodyLimit = 100

// POST reports how much of the body it could read; the host answers 413
// instead when the body passes the limit.
func POST(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read failed: "+err.Error(), http.StatusBadRequest)
		return
	}
	io.WriteString(w, strconv.Itoa(len(b)))
}
