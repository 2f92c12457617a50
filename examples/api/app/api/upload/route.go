// Package route is POST /api/upload: a multipart form with a file.
package route

import (
	"io"
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// POST reads the "file" part and the "title" field.
func POST(w http.ResponseWriter, r *http.Request) {
	// The host caps bodies at 4.5 MB, so the form fits in memory; guests
	// have no filesystem for ParseMultipartForm to spill to.
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		guest.Error(w, http.StatusBadRequest, "expected a multipart/form-data body")
		return
	}
	file, header, err := r.FormFile("file")
	if err != nil {
		guest.Error(w, http.StatusBadRequest, "file is required")
		return
	}
	defer file.Close()
	size, err := io.Copy(io.Discard, file)
	if err != nil {
		guest.Error(w, http.StatusBadRequest, "reading the file failed")
		return
	}
	guest.JSON(w, http.StatusOK, struct {
		Filename string `json:"filename"`
		Size     int64  `json:"size"`
		Title    string `json:"title"`
	}{header.Filename, size, r.FormValue("title")})
}
