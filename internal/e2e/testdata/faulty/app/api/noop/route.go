package route

import "net/http"

var ok = []byte("ok")

// GET does as little as a handler can: it measures the SDK and host alone.
func GET(w http.ResponseWriter, r *http.Request) { w.Write(ok) }
