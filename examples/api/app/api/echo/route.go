// Package route is POST /api/echo: reading JSON, text and form bodies with
// the standard library, chosen by Content-Type.
package route

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

type echo struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// POST answers with what it read.
func POST(w http.ResponseWriter, r *http.Request) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		guest.Error(w, http.StatusUnsupportedMediaType, "Content-Type is missing or malformed")
		return
	}
	switch mediaType {
	case "application/json":
		var v any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			guest.Error(w, http.StatusBadRequest, "invalid JSON body")
			return
		}
		guest.JSON(w, http.StatusOK, echo{"json", v})
	case "text/plain":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			guest.Error(w, http.StatusBadRequest, "reading the body failed")
			return
		}
		guest.JSON(w, http.StatusOK, echo{"text", string(b)})
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			guest.Error(w, http.StatusBadRequest, "invalid form body")
			return
		}
		fields := map[string]string{}
		for k := range r.PostForm {
			fields[k] = r.PostForm.Get(k)
		}
		guest.JSON(w, http.StatusOK, echo{"form", fields})
	default:
		guest.Error(w, http.StatusUnsupportedMediaType, "unsupported Content-Type "+mediaType)
	}
}
