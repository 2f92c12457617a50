package route

import (
	"io"
	"net/http"
)

// GET answers at once but leaves a goroutine behind that writes to the
// response when it gets to run: after the handler returned, while the
// instance lets leftover goroutines end.
func GET(w http.ResponseWriter, r *http.Request) {
	go func() {
		io.WriteString(w, "LATE WRITE")
	}()
	io.WriteString(w, "early")
}
