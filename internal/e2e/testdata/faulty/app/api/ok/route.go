package route

import (
	"fmt"
	"net/http"
	"os"
)

var served int

// GET counts the requests this instance served, so tests can tell that an
// instance survived a panic.
func GET(w http.ResponseWriter, r *http.Request) {
	served++
	fmt.Fprintln(os.Stderr, "ok route served", served)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "ok %d", served)
}
