// Package route is POST /api/generate: a text stream, the way an LLM
// endpoint sends tokens as they are produced.
package route

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wasmroute/wasmroute/guest"
)

// POST streams a reply to {"prompt": ...} a word at a time.
func POST(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Prompt string `json:"prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || strings.TrimSpace(in.Prompt) == "" {
		guest.Error(w, http.StatusBadRequest, "prompt is required")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	flusher := w.(http.Flusher)
	tokens := append([]string{"You", "said:"}, strings.Fields(in.Prompt)...)
	for i, tok := range tokens {
		if i > 0 {
			time.Sleep(50 * time.Millisecond) // "thinking"
			tok = " " + tok
		}
		io.WriteString(w, tok)
		flusher.Flush()
	}
}
