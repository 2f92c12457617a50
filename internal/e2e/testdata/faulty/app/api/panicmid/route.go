package route

import "net/http"

func GET(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("partial"))
	w.(http.Flusher).Flush()
	panic("boom after the head was sent")
}
