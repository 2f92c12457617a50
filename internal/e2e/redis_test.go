package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/cache"
	"github.com/wasmroute/wasmroute/host/kv"
	"github.com/wasmroute/wasmroute/internal/testserver"
)

// redisHost serves the plain app with its KV store and response cache on
// the Redis at url, as one edge host of several would.
func redisHost(t *testing.T, url string) (*server, *cache.Redis) {
	t.Helper()
	store, err := kv.OpenRedisStore(url, "plain", 0)
	if err != nil {
		t.Fatal(err)
	}
	responses, err := cache.OpenRedis(url, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { responses.Close(); store.Close() })
	return serve(t, plainDir, host.Options{KV: store, Cache: responses}), responses
}

// get sends GET path with the Host header both hosts are asked under, and
// returns the status, the cache state and the body.
func (s *server) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	req.Host = "plain.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Wasmroute-Cache"), string(b)
}

// waitFor repeats GET path on s until it answers want (status, cache
// state and run count), which something in the background brings: a
// message from the other host, a regeneration, Redis coming back.
func (s *server) waitFor(t *testing.T, path string, status int, state string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, got, body := s.get(t, path)
		if st == status && got == state && (n == 0 || runs(body) == n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s %s, want %d %s n=%d", path, st, got, body, status, state, n)
		}
		time.Sleep(20 * time.Millisecond) // polling for the background
	}
}

// TestTwoHostsShareRedis runs two hosts on one redis-server: KV written
// through one is read through the other, an entry one host stored is a hit
// on the other, and a revalidation on one reaches the other, which
// regenerates. With Redis down, KV calls fail with a 500 and a log line,
// the cache degrades to misses, and both hosts keep serving; when Redis
// comes back, both recover without a restart. A Redis that stalls costs a
// request a bounded wait.
func TestTwoHostsShareRedis(t *testing.T) {
	srv := testserver.Redis(t)
	a, ca := redisHost(t, srv.URL)
	b, cb := redisHost(t, srv.URL)
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling for a reconnection
		}
	}
	eventually("both caches subscribed", func() bool { return ca.Connected() && cb.Connected() })

	for _, st := range []struct {
		s     *server
		path  string
		state string
		n     int
	}{
		{a, "/api/cache/none", "MISS", 1},
		{b, "/api/cache/none", "MISS", 2}, // one counter, in Redis
		{a, "/api/cache/timed", "MISS", 1},
		{b, "/api/cache/timed", "HIT", 1}, // stored by a, never run on b
		{a, "/api/cache/timed", "HIT", 1},
	} {
		if status, state, body := st.s.get(t, st.path); status != 200 || state != st.state || runs(body) != st.n {
			t.Fatalf("GET %s: %d %s %s, want %s n=%d", st.path, status, state, body, st.state, st.n)
		}
	}
	if resp, _ := a.do(t, "POST", "/api/cache/revalidate?tag=posts", ""); resp.StatusCode != 204 {
		t.Fatalf("revalidate on a: %d", resp.StatusCode)
	}
	start := time.Now()
	b.waitFor(t, "/api/cache/timed", 200, "STALE", 1)
	t.Logf("b saw a's revalidation after %s", time.Since(start))
	b.waitFor(t, "/api/cache/timed", 200, "HIT", 2) // b regenerated it
	a.waitFor(t, "/api/cache/timed", 200, "HIT", 2) // and a dropped its copy

	// Redis stalls: a KV call waits a bounded time, and the request ends
	// well before the stall does.
	stall := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer stall.Close()
	go stall.Do(context.Background(), "DEBUG", "SLEEP", "3")
	time.Sleep(100 * time.Millisecond) // let the stall begin
	began := time.Now()
	if status, _, body := a.get(t, "/api/cache/none"); status != 500 && status != 504 {
		t.Errorf("KV with Redis stalled: %d %s, want 500 or 504", status, body)
	}
	if took := time.Since(began); took > 2500*time.Millisecond {
		t.Errorf("a request waited %s on a stalled Redis", took)
	}

	// Redis down.
	srv.Stop()
	for _, s := range []*server{a, b} {
		if status, _, body := s.get(t, "/api/cache/none"); status != 500 || !strings.Contains(body, "kv: the store failed") {
			t.Fatalf("KV with Redis down: %d %s", status, body)
		}
		s.waitFor(t, "/api/cache/timed", 200, "MISS", 0) // no cache: the guest answers
		if !strings.Contains(s.logs.String(), "kv store failed") || !strings.Contains(s.logs.String(), "serving without the cache") {
			t.Errorf("no log line for the failures:\n%s", s.logs)
		}
	}

	// Redis back (empty: it keeps nothing on disk): both recover.
	srv.Start()
	eventually("both caches subscribed again", func() bool { return ca.Connected() && cb.Connected() })
	a.waitFor(t, "/api/cache/none", 200, "MISS", 1)
	b.waitFor(t, "/api/cache/none", 200, "MISS", 2)
	a.waitFor(t, "/api/cache/timed", 200, "HIT", 0)
	b.waitFor(t, "/api/cache/timed", 200, "HIT", 0)
}
