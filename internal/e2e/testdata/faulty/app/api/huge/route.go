// Package route writes a huge response: ?mb=N MiB, or without end with
// ?forever=1 until the host stops it at MaxDuration. With ?sleep=1 it
// sleeps for an hour instead, which MaxDuration also cuts short.
package route

import (
	"net/http"
	"strconv"
	"time"
)

// MaxDuration cuts the endless stream after two seconds.
const MaxDuration = 2

var chunk = make([]byte, 64<<10)

// GET streams 64 KiB chunks of 'x'.
func GET(w http.ResponseWriter, r *http.Request) {
	for i := range chunk {
		chunk[i] = 'x'
	}
	if r.URL.Query().Get("sleep") == "1" {
		time.Sleep(time.Hour)
	}
	mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
	forever := r.URL.Query().Get("forever") == "1"
	w.Header().Set("Content-Type", "application/octet-stream")
	for i := 0; forever || i < mb*16; i++ {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}
