// Package route loops forever. This app is built without the loop
// countdown, so only Options.CloseOnContextDone can stop it, at the app's
// max_duration (wasmroute.toml).
package route

import "net/http"

var n int

// GET never returns.
func GET(w http.ResponseWriter, r *http.Request) {
	for {
		n++
	}
}
