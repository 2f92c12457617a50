package route

import "net/http"

func GET(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Before-Panic", "1")
	panic("boom")
}
