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
	"runtime"
	"strconv"
	"strings"
	"time"
)

var sink, served int

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
	case "spin-after":
		go func() {
			for {
				sink++
			}
		}()
		io.WriteString(w, "spun")
	case "panic-after":
		go func() { panic("boom after the response") }()
		io.WriteString(w, "panicked")
	case "sleep-after":
		go func() { time.Sleep(time.Hour) }()
		io.WriteString(w, "slept")
	case "handoff":
		// A worker hands its result over and is about to end when the
		// handler returns: not a goroutine left behind.
		ch := make(chan string)
		go func() { ch <- "handed" }()
		runtime.Gosched() // one P: the worker runs now, and blocks in its send
		io.WriteString(w, <-ch)
	case "hoard":
		opened, errno := hoardSockets(100)
		fmt.Fprintf(w, "opened %d, then errno %d", opened, errno)
	case "count":
		// Which request this is on this instance.
		served++
		io.WriteString(w, strconv.Itoa(served))
	case "streamed":
		io.WriteString(w, strings.Repeat("s", 20<<10))
	default:
		io.WriteString(w, strings.Repeat("w", 10<<10))
	}
}

var held [][]byte

// POST with ?case=alloc&mb=N allocates N MiB and holds it while it streams
// the request body back, so a test can keep many such requests open at once.
func POST(w http.ResponseWriter, r *http.Request) {
	mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
	b := make([]byte, mb<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	held = append(held, b)
	defer func() { held = nil }()
	io.WriteString(w, "allocated\n")
	w.(http.Flusher).Flush()
	io.Copy(w, r.Body)
}
