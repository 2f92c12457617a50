// Package route does what a hostile handler would (?case=...): it tries
// to decide the response's framing on the wire in every way a handler can,
// and to flood the log. The host must not let it.
package route

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// GET answers according to ?case=.
func GET(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	switch r.URL.Query().Get("case") {
	case "two-lengths":
		h["Content-Length"] = []string{"3", "300"}
		io.WriteString(w, "abc")
	case "lying-length":
		h.Set("Content-Length", "300")
		io.WriteString(w, "abc")
	case "transfer-encoding":
		h.Set("Transfer-Encoding", "chunked")
		io.WriteString(w, "abc")
	case "connection":
		h.Set("Connection", "close")
	case "upgrade":
		h.Set("Upgrade", "websocket")
	case "trailer":
		h.Set("Trailer", "X-Sum")
	case "101":
		w.WriteHeader(http.StatusSwitchingProtocols)
	case "999":
		w.WriteHeader(999)
	case "early-hints":
		h.Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	case "only-early-hints":
		w.WriteHeader(http.StatusEarlyHints)
		panic(http.ErrAbortHandler) // ends without a final response
	case "many-headers":
		for i := range 10000 {
			h.Set("X-H"+strconv.Itoa(i), "v")
		}
	case "noisy":
		for i := range 10000 {
			fmt.Fprintln(os.Stderr, "noise", i)
			log.Print("log noise ", i)
		}
		io.WriteString(w, "said a lot")
	case "streamed":
		io.WriteString(w, strings.Repeat("s", 20<<10))
	default:
		io.WriteString(w, strings.Repeat("w", 10<<10))
	}
}
