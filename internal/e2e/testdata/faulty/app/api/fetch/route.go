// Package route fetches ?url= with net/http through the host's sockets,
// or tries to listen with ?listen=1: the host allows only what
// allowed_outbound_hosts names.
package route

import (
	"io"
	"net/http"

	_ "github.com/stealthrocket/net/http"
	"github.com/stealthrocket/net/wasip1"
)

// MaxDuration keeps a request to a silent upstream short.
const MaxDuration = 2

// GET answers 200 with the upstream's body, or 502 with the error.
func GET(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("listen") == "1" {
		l, err := wasip1.Listen("tcp", ":0")
		if err != nil {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "listen: "+err.Error())
			return
		}
		l.Close()
		io.WriteString(w, "listening")
		return
	}
	resp, err := http.Get(r.URL.Query().Get("url"))
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, err.Error())
		return
	}
	defer resp.Body.Close()
	io.Copy(w, resp.Body)
}
