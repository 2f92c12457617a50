package route

import (
	"io"
	"net/http"
	"time"
)

// GET answers at once but leaves a goroutine behind that writes to the
// response 50 ms later; ?wait=1 instead sleeps 300 ms, long enough for a
// goroutine left by an earlier request on this instance to run.
func GET(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery == "wait=1" {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "waited")
		return
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "LATE WRITE")
	}()
	io.WriteString(w, "early")
}
