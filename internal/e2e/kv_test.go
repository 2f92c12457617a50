package e2e

import (
	"context"
	"encoding/json"
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
	store := &ttlRecorder{Store: kv.NewMemory(), ttls: map[string]time.Duration{}}
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
		store, err := kv.OpenBolt(path)
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
