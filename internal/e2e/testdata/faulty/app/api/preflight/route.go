package route

import "net/http"

func GET(w http.ResponseWriter, r *http.Request) { w.Write([]byte("get")) }

// OPTIONS answers preflight requests itself, overriding the app's CORS policy.
func OPTIONS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Custom-Preflight", "yes")
	w.WriteHeader(http.StatusNoContent)
}
