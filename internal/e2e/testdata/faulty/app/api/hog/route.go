package route

import "net/http"

var keep [][]byte

// GET allocates until the instance's memory limit stops it.
func GET(w http.ResponseWriter, r *http.Request) {
	for {
		b := make([]byte, 1<<20)
		b[0] = 1
		keep = append(keep, b)
	}
}
