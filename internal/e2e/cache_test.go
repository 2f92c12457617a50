package e2e

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/cache"
)

// runs reads {"n": N} from a body: how many times the guest ran.
func runs(body string) int {
	var v struct{ N int }
	if json.Unmarshal([]byte(body), &v) != nil {
		return -1
	}
	return v.N
}

// cacheStep is one request and what it must find: the X-Wasmroute-Cache
// header ("" for none) and the guest's run count (0: not checked).
type cacheStep struct {
	method, path string
	header       []string
	status       int
	cache        string
	n            int
}

func (s *server) check(t *testing.T, st cacheStep) string {
	t.Helper()
	method := st.method
	if method == "" {
		method = "GET"
	}
	resp, body := s.do(t, method, st.path, "", st.header...)
	status := st.status
	if status == 0 {
		status = 200
	}
	got := resp.Header.Get("X-Wasmroute-Cache")
	if resp.StatusCode != status || got != st.cache || (st.n != 0 && runs(body) != st.n) {
		t.Fatalf("%s %s %v: %d, X-Wasmroute-Cache %q, body %q; want %d, %q, n=%d", method, st.path, st.header, resp.StatusCode, got, body, status, st.cache, st.n)
	}
	if got == "HIT" || got == "STALE" {
		if resp.Header.Get("Age") == "" {
			t.Fatalf("%s %s: a %s without Age", method, st.path, got)
		}
	}
	if resp.Header.Get("X-Wasmroute-Cache-Tag") != "" {
		t.Fatalf("%s %s: the cache tags reached the client", method, st.path)
	}
	return body
}

// until repeats a GET until it answers with the cache state and run count
// given, for what happens in the background (a regeneration) or with time
// (s-maxage running out); it fails after 10 seconds.
func (s *server) until(t *testing.T, path, state string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := s.do(t, "GET", path, "")
		if resp.Header.Get("X-Wasmroute-Cache") == state && runs(body) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %s %s, want %s with n=%d", path, resp.Header.Get("X-Wasmroute-Cache"), body, state, n)
		}
		time.Sleep(20 * time.Millisecond) // polling for the background call
	}
}

// TestResponseCache serves the plain app's cache routes with an in-memory
// cache and walks Next.js's rules: Revalidate, Revalidate = false,
// s-maxage with stale-while-revalidate, force-dynamic, what is never
// stored, credentials, Vary, tags and their limits, revalidation by tag and
// path from a guest, expiry, and single flight.
func TestResponseCache(t *testing.T) {
	s := serve(t, plainDir, host.Options{Cache: cache.NewMemory(0), MaxCacheEntryBytes: 4096})

	t.Run("revalidate", func(t *testing.T) {
		s.check(t, cacheStep{path: "/api/cache/timed", cache: "MISS", n: 1})
		resp, _ := s.do(t, "GET", "/api/cache/timed", "")
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "s-maxage=60, stale-while-revalidate=") {
			t.Errorf("Cache-Control %q, want Next.js's for revalidate = 60", cc)
		}
		for _, st := range []cacheStep{
			{path: "/api/cache/timed", cache: "HIT", n: 1},
			{method: "HEAD", path: "/api/cache/timed", cache: "HIT"},
			{path: "/api/cache/timed?page=2", cache: "MISS", n: 1},
			{path: "/api/cache/timed", header: []string{"Cookie", "a=b"}, cache: "HIT", n: 1}, // static by declaration
			{method: "POST", path: "/api/cache/revalidate?tag=posts", status: 204},
			{path: "/api/cache/timed", header: []string{"Cookie", "a=b"}, cache: "STALE", n: 1}, // regenerated without the cookie
		} {
			s.check(t, st)
		}
		s.until(t, "/api/cache/timed", "HIT", 2)
		s.check(t, cacheStep{method: "POST", path: "/api/cache/revalidate?path=/api/cache/timed", status: 204})
		s.check(t, cacheStep{path: "/api/cache/timed", cache: "STALE", n: 2})
		s.until(t, "/api/cache/timed", "HIT", 3)
		s.check(t, cacheStep{path: "/api/cache/timed?page=2", cache: "STALE", n: 1}) // the tag reached it too
		s.check(t, cacheStep{method: "POST", path: "/api/cache/revalidate?expire=posts", status: 204})
		s.check(t, cacheStep{path: "/api/cache/timed", cache: "MISS", n: 4})
		s.check(t, cacheStep{path: "/api/cache/timed", cache: "HIT", n: 4})
	})

	t.Run("rules", func(t *testing.T) {
		for _, st := range []cacheStep{
			{path: "/api/cache/static", cache: "MISS", n: 1},
			{path: "/api/cache/static", cache: "HIT", n: 1},
			{path: "/api/cache/none", cache: "MISS", n: 1},
			{path: "/api/cache/none", cache: "MISS", n: 2},
			{path: "/api/cache/dynamic", cache: "", n: 1},
			{path: "/api/cache/dynamic", cache: "", n: 2},
			{path: "/api/cache/cookie", cache: "MISS", n: 1},
			{path: "/api/cache/cookie", cache: "MISS", n: 2},
			{path: "/api/cache/public", cache: "MISS", n: 1},
			{path: "/api/cache/public", header: []string{"Authorization", "Bearer x"}, cache: "HIT", n: 1},
			{path: "/api/cache/vary", header: []string{"Accept-Language", "en"}, cache: "MISS", n: 1},
			{path: "/api/cache/vary", header: []string{"Accept-Language", "en"}, cache: "HIT", n: 1},
			{path: "/api/cache/vary", header: []string{"Accept-Language", "fr"}, cache: "MISS", n: 2},
			{path: "/api/cache/swr", cache: "MISS", n: 1},
			{path: "/api/cache/swr", cache: "HIT", n: 1},
			{path: "/api/cache/swr", header: []string{"Cookie", "a=b"}, cache: "MISS", n: 2}, // not shared: never for credentials
		} {
			s.check(t, st)
		}
		if body := s.check(t, cacheStep{path: "/api/cache/static", cache: "HIT"}); !strings.Contains(body, `"n":1`) {
			t.Errorf("static: %s", body)
		}
		s.until(t, "/api/cache/swr", "STALE", 1) // s-maxage=1 ran out
		s.until(t, "/api/cache/swr", "HIT", 3)
	})

	t.Run("limits", func(t *testing.T) {
		for _, st := range []cacheStep{
			{path: "/api/cache/tags?n=64", cache: "MISS", n: 1},
			{path: "/api/cache/tags?n=64", cache: "HIT", n: 1},
			{path: "/api/cache/tags?n=65", cache: "MISS", n: 1},
			{path: "/api/cache/tags?n=65", cache: "MISS", n: 2},
			{path: "/api/cache/tags?long=300", cache: "MISS", n: 1},
			{path: "/api/cache/tags?long=300", cache: "MISS", n: 2},
			{method: "POST", path: "/api/cache/revalidate?tag=", status: 400},
			{method: "POST", path: "/api/cache/revalidate?path=nope", status: 400},
		} {
			s.check(t, st)
		}
		for _, want := range []string{"65 tags, at most 64", "a tag of 300 bytes"} {
			if !strings.Contains(s.logs.String(), want) {
				t.Errorf("no log line with %q", want)
			}
		}
		for _, tt := range []struct {
			size   string
			second string
		}{{"100", "HIT"}, {"5000", "MISS"}} {
			s.do(t, "GET", "/api/cache/big?size="+tt.size, "")
			if resp, body := s.do(t, "GET", "/api/cache/big?size="+tt.size, ""); resp.Header.Get("X-Wasmroute-Cache") != tt.second || len(body) < 100 {
				t.Errorf("a body of %s bytes, again: %s (%d bytes), want %s", tt.size, resp.Header.Get("X-Wasmroute-Cache"), len(body), tt.second)
			}
		}
	})

	t.Run("single flight", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		bodies := make([]string, n)
		states := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := s.do(t, "GET", "/api/cache/slow", "")
				bodies[i], states[i] = body, resp.Header.Get("X-Wasmroute-Cache")
			}()
		}
		wg.Wait()
		misses := 0
		for i := range n {
			if runs(bodies[i]) != 1 {
				t.Errorf("request %d: %s, want the one call's answer", i, bodies[i])
			}
			if states[i] == "MISS" {
				misses++
			}
		}
		if misses != 1 {
			t.Errorf("%d misses among %v, want 1", misses, states)
		}
	})
}

// TestExamplePosts walks examples/api's cached posts: GET /api/posts is
// cached for 10 seconds with the tag "posts"; POST /api/posts stores a post
// and revalidates the tag, so the next GET gets the old list at once and
// a later one the new list.
func TestExamplePosts(t *testing.T) {
	s := serve(t, exampleDir, host.Options{Cache: cache.NewMemory(0)})
	for _, tt := range []struct {
		method, path, body string
		status             int
		cache, want        string
	}{
		{"GET", "/api/posts", "", 200, "MISS", `{"data":[]}`},
		{"GET", "/api/posts", "", 200, "HIT", `{"data":[]}`},
		{"POST", "/api/posts", `{"title":"","body":"x"}`, 400, "", `{"error":"title (1 to 200 characters) and body (1 to 10000) are required"}`},
		{"POST", "/api/posts", `{"title":`, 400, "", `{"error":"invalid JSON body"}`},
		{"POST", "/api/posts", `{"title":"First","body":"Hello"}`, 201, "", `{"data":{"id":"1","title":"First","body":"Hello","created":`},
		{"GET", "/api/posts", "", 200, "STALE", `{"data":[]}`},
	} {
		resp, body := s.do(t, tt.method, tt.path, tt.body)
		if resp.StatusCode != tt.status || resp.Header.Get("X-Wasmroute-Cache") != tt.cache || !strings.HasPrefix(body, tt.want) {
			t.Fatalf("%s %s %s: %d %q %s; want %d %q %s", tt.method, tt.path, tt.body, resp.StatusCode,
				resp.Header.Get("X-Wasmroute-Cache"), body, tt.status, tt.cache, tt.want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := s.do(t, "GET", "/api/posts", "")
		if resp.Header.Get("X-Wasmroute-Cache") == "HIT" && strings.Contains(body, `"title":"First"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the regenerated list never came: %s %s", resp.Header.Get("X-Wasmroute-Cache"), body)
		}
		time.Sleep(20 * time.Millisecond) // polling for the background call
	}
}
