// Package route loops forever. This app is built without the loop
// countdown, so only Options.CloseOnContextDone can stop it.
package route

import "net/http"

// MaxDuration is one second.
const MaxDuration = 1

var n int

// GET never returns.
func GET(w http.ResponseWriter, r *http.Request) {
	for {
		n++
	}
}
