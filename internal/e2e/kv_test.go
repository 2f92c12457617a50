package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/kv"
)

// ttlRecorder is a store that remembers the TTL of each Set.
type ttlRecorder struct {
	kv.Store
	mu   sync.Mutex
	ttls map[string]time.Duration
}

func (s *ttlRecorder) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	s.ttls[key] = ttl
	s.mu.Unlock()
	return s.Store.Set(ctx, key, value, ttl)
}

func TestKVFromGuests(t *testing.T) {
	store := &ttlRecorder{Store: kv.NewMemory(0), ttls: map[string]time.Duration{}}
	s := serve(t, faultyDir, host.Options{KV: store})
	big := strings.Repeat("x", 100_000) // larger than the guest's first read buffer
	q := url.QueryEscape
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"missing", "GET", "/api/kv?op=get&key=a", "", 404, "kv: key not found\n"},
		{"set", "PUT", "/api/kv?key=a", "one", 204, ""},
		{"get", "GET", "/api/kv?op=get&key=a", "", 200, "one"},
		{"exists", "GET", "/api/kv?op=exists&key=a", "", 200, "true"},
		{"unicode key", "PUT", "/api/kv?key=" + q("ключ/€"), "u", 204, ""},
		{"big value", "PUT", "/api/kv?key=big", big, 204, ""},
		{"big value back", "GET", "/api/kv?op=get&key=big", "", 200, big},
		{"ttl", "PUT", "/api/kv?key=temp&ttl=1h", "t", 204, ""},
		{"keys", "GET", "/api/kv?op=keys", "", 200, "a,big,temp,ключ/€"},
		{"keys with prefix", "GET", "/api/kv?op=keys&prefix=b", "", 200, "big"},
		{"empty key", "PUT", "/api/kv?key=", "x", 400, "kv: key must be 1 to 512 bytes of UTF-8\n"},
		{"key too long", "PUT", "/api/kv?key=" + strings.Repeat("k", 513), "x", 400, "kv: key must be 1 to 512 bytes of UTF-8\n"},
		{"value too large keeps the old value", "PUT", "/api/kv?key=a&size=" + "4194305", "", 400, "kv: value larger than 4 MiB\n"},
		{"old value intact", "GET", "/api/kv?op=get&key=a", "", 200, "one"},
		{"largest value", "PUT", "/api/kv?key=max&size=4194304", "", 204, ""},
		{"delete", "GET", "/api/kv?op=delete&key=a", "", 204, ""},
		{"deleted", "GET", "/api/kv?op=exists&key=a", "", 200, "false"},
		{"delete missing", "GET", "/api/kv?op=delete&key=a", "", 204, ""},
	}
	for _, st := range steps {
		resp, body := s.do(t, st.method, st.path, st.body)
		if resp.StatusCode != st.status || body != st.want {
			t.Fatalf("%s: %d %.60q, want %d %.60q", st.name, resp.StatusCode, body, st.status, st.want)
		}
	}
	if got := store.ttls["temp"]; got != time.Hour {
		t.Fatalf("TTL reached the store as %v, want 1h", got)
	}
	if got := store.ttls["a"]; got != 0 {
		t.Fatalf("Set without TTL reached the store as %v", got)
	}
}

// TestUsersPersistAcrossRestart runs the example's users API on a bbolt
// store, restarts the host on the same file, and finds the data there.
func TestUsersPersistAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	open := func() (*server, *kv.Bolt) {
		store, err := kv.OpenBolt(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, exampleDir, host.Options{KV: store}), store
	}
	s, store := open()
	resp, body := s.do(t, "POST", "/api/users", `{"name":"Ada","email":"ada@example.com"}`)
	var created struct {
		Data struct{ ID, Name, Email string }
	}
	if resp.StatusCode != 201 || json.Unmarshal([]byte(body), &created) != nil || !regexp.MustCompile(`^\d+$`).MatchString(created.Data.ID) {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	id := created.Data.ID
	if resp, body := s.do(t, "PATCH", "/api/users/"+id, `{"email":"ada@lovelace.dev"}`); resp.StatusCode != 200 ||
		body != `{"data":{"id":"`+id+`","name":"Ada","email":"ada@lovelace.dev"}}` {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(t, "DELETE", "/api/users/3", ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	s.Close()
	s.host.Close(context.Background())
	store.Close()

	s, _ = open()
	if resp, body := s.do(t, "GET", "/api/users/"+id, ""); resp.StatusCode != 200 ||
		body != `{"data":{"id":"`+id+`","name":"Ada","email":"ada@lovelace.dev"}}` {
		t.Fatalf("after restart: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(t, "GET", "/api/users/3", ""); resp.StatusCode != 404 {
		t.Fatalf("deleted user after restart: %d", resp.StatusCode)
	}
	// 49 seeded users and the new one: page 10 of 5 ends with the new one.
	_, body = s.do(t, "GET", "/api/users?page=10&limit=5", "")
	if !strings.HasSuffix(body, `{"id":"`+id+`","name":"Ada","email":"ada@lovelace.dev"}],"page":10,"limit":5}`) {
		t.Fatalf("last page: %s", body)
	}
}

// TestKVAtomicFromGuests makes 500 increments over HTTP, 8 at a time, with
// Incr and with a CompareAndSwap loop, on several instances: none is lost.
// Then it pages through 2,500 keys, and fills a store to its quota.
func TestKVAtomicFromGuests(t *testing.T) {
	s := serve(t, faultyDir, host.Options{KV: kv.NewMemory(64 << 10), MaxInstances: 8})
	for _, op := range []string{"incr", "casincr"} {
		t.Run(op, func(t *testing.T) {
			sem := make(chan struct{}, 8)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var failures []string
			for range 500 {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					resp, err := http.Get(s.URL + "/api/kv?op=" + op + "&key=" + op)
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						mu.Lock()
						failures = append(failures, resp.Status)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d failed requests, first %s", len(failures), failures[0])
			}
			if _, body := s.do(t, "GET", "/api/kv?op=get&key="+op, ""); body != "500" {
				t.Fatalf("counter = %s after 500 increments", body)
			}
		})
	}
	if resp, body := s.do(t, "GET", "/api/kv?op=incr&key=casincr", ""); resp.StatusCode != 200 || body != "501" {
		t.Fatalf("incr of a value cas wrote: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "GET", "/api/kv?op=fill&prefix=p:&n=2500", ""); resp.StatusCode != 204 {
		t.Fatalf("fill: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "GET", "/api/kv?op=count&prefix=p:", ""); resp.StatusCode != 200 || body != "2500" {
		t.Fatalf("count through pages: %d %s", resp.StatusCode, body)
	}
	// The store's quota is 64 KiB: 2,500 keys of 10 bytes hold 25 KB.
	if resp, body := s.do(t, "PUT", "/api/kv?key=huge&size=50000", ""); resp.StatusCode != 507 || !strings.Contains(body, "quota") {
		t.Fatalf("write past the quota: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.do(t, "GET", "/api/kv?op=exists&key=huge", ""); body != "false" {
		t.Fatalf("a refused write left a value: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(s.logs.String(), `msg="kv write refused"`) {
		t.Fatalf("no log line for the refused write:\n%s", s.logs)
	}
}
