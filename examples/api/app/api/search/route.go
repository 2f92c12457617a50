// Package route is GET /api/search: reading query parameters.
package route

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// GET echoes the query: ?query=hello&page=1&tag=news&tag=tech.
func GET(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tags := q["tag"]
	if tags == nil {
		tags = []string{}
	}
	guest.JSON(w, http.StatusOK, struct {
		Query     string      `json:"query"`
		Page      string      `json:"page"`
		AllParams firstValues `json:"allParams"`
		HasFilter bool        `json:"hasFilter"`
		Tags      []string    `json:"tags"`
	}{q.Get("query"), q.Get("page"), firstValues(r.URL.RawQuery), q.Has("filter"), tags})
}

// firstValues is a raw query encoded as a JSON object of each key's first
// value, with keys in the order they first appear (as URLSearchParams
// iterates in JavaScript).
type firstValues string

// MarshalJSON implements json.Marshaler.
func (raw firstValues) MarshalJSON() ([]byte, error) {
	seen := map[string]bool{}
	out := []byte{'{'}
	for _, part := range strings.Split(string(raw), "&") {
		k, v, _ := strings.Cut(part, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if part == "" || err1 != nil || err2 != nil || seen[key] {
			continue
		}
		seen[key] = true
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(key)
		vb, _ := json.Marshal(value)
		out = append(append(append(out, kb...), ':'), vb...)
	}
	return append(out, '}'), nil
}
