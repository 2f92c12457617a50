package cache

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Add(pairs[i], pairs[i+1])
	}
	return h
}

func TestLifetime(t *testing.T) {
	tests := []struct {
		name         string
		rule         Rule
		revalidate   int
		resp         http.Header
		fresh, stale time.Duration
		ok           bool
	}{
		{"revalidate = 10", Timed, 10, nil, 10 * time.Second, Forever, true},
		{"revalidate wins over the response", Timed, 10, header("Cache-Control", "s-maxage=99"), 10 * time.Second, Forever, true},
		{"static", Static, 0, nil, -1, 0, true},
		{"force-dynamic, whatever the response says", Never, 0, header("Cache-Control", "s-maxage=60"), 0, 0, false},
		{"s-maxage", ByResponse, 0, header("Cache-Control", "public, s-maxage=30"), 30 * time.Second, 0, true},
		{"s-maxage and swr", ByResponse, 0, header("Cache-Control", "s-maxage=1, stale-while-revalidate=59"), time.Second, 59 * time.Second, true},
		{"upper case", ByResponse, 0, header("Cache-Control", "S-MAXAGE=5"), 5 * time.Second, 0, true},
		{"max-age alone is the browser's", ByResponse, 0, header("Cache-Control", "max-age=60"), 0, 0, false},
		{"s-maxage=0", ByResponse, 0, header("Cache-Control", "s-maxage=0"), 0, 0, false},
		{"nothing", ByResponse, 0, nil, 0, 0, false},
	}
	for _, tt := range tests {
		fresh, stale, ok := Lifetime(tt.rule, tt.revalidate, tt.resp)
		if fresh != tt.fresh || stale != tt.stale || ok != tt.ok {
			t.Errorf("%s: %v %v %v, want %v %v %v", tt.name, fresh, stale, ok, tt.fresh, tt.stale, tt.ok)
		}
	}
}

func TestStorable(t *testing.T) {
	tests := []struct {
		name      string
		rule      Rule
		status    int
		req, resp http.Header
		shared    bool
		why       string
	}{
		{"a static route's 200", Timed, 200, nil, nil, true, ""},
		{"a response's s-maxage", ByResponse, 200, nil, header("Cache-Control", "s-maxage=5"), false, ""},
		{"public", ByResponse, 200, nil, header("Cache-Control", "public, s-maxage=5"), true, ""},
		{"404 is kept", Timed, 404, nil, nil, true, ""},
		{"500 is not", Timed, 500, nil, nil, false, "status 500"},
		{"206 is not", Timed, 206, nil, nil, false, "status 206"},
		{"private", Timed, 200, nil, header("Cache-Control", "private"), false, "Cache-Control: private"},
		{"no-store", Timed, 200, nil, header("Cache-Control", "no-store"), false, "Cache-Control: no-store"},
		{"Set-Cookie", Timed, 200, nil, header("Set-Cookie", "a=b"), false, "Set-Cookie"},
		{"Vary: *", Timed, 200, nil, header("Vary", "*"), false, "Vary: *"},
		{"Authorization", Timed, 200, header("Authorization", "Bearer x"), nil, false, "credentials"},
		{"a cookie", ByResponse, 200, header("Cookie", "a=b"), header("Cache-Control", "s-maxage=5"), false, "credentials"},
		{"a cookie, public", ByResponse, 200, header("Cookie", "a=b"), header("Cache-Control", "public, s-maxage=5"), true, ""},
	}
	for _, tt := range tests {
		req, resp := tt.req, tt.resp
		if req == nil {
			req = http.Header{}
		}
		if resp == nil {
			resp = http.Header{}
		}
		shared, why := Storable(tt.rule, tt.status, req, resp)
		if shared != tt.shared || !strings.Contains(why, tt.why) || (tt.why == "") != (why == "") {
			t.Errorf("%s: shared %v, why %q; want %v, %q", tt.name, shared, why, tt.shared, tt.why)
		}
	}
}

func TestState(t *testing.T) {
	stored := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return stored.Add(d) }
	timed := &Entry{Stored: stored, Fresh: 10 * time.Second, Stale: Forever}
	swr := &Entry{Stored: stored, Fresh: time.Second, Stale: 30 * time.Second}
	bare := &Entry{Stored: stored, Fresh: time.Second}
	static := &Entry{Stored: stored, Fresh: -1}
	tests := []struct {
		name string
		e    *Entry
		now  time.Time
		tags Tags
		want State
	}{
		{"fresh", timed, at(5 * time.Second), Tags{}, Hit},
		{"past revalidate", timed, at(11 * time.Second), Tags{}, Stale},
		{"past a year", timed, at(Forever + 11*time.Second), Tags{}, Miss},
		{"swr, in the window", swr, at(10 * time.Second), Tags{}, Stale},
		{"swr, past it", swr, at(40 * time.Second), Tags{}, Miss},
		{"s-maxage alone, past it", bare, at(2 * time.Second), Tags{}, Miss},
		{"static, much later", static, at(1000 * time.Hour), Tags{}, Hit},
		{"a tag revalidated after", static, at(time.Minute), Tags{Stale: at(time.Second)}, Stale},
		{"a tag revalidated before", static, at(time.Minute), Tags{Stale: at(-time.Second)}, Hit},
		{"a tag revalidated while it was generated", static, at(time.Minute), Tags{Stale: stored}, Stale},
		{"a tag expired after", timed, at(time.Second), Tags{Stale: at(time.Second), Expired: at(time.Second)}, Miss},
	}
	for _, tt := range tests {
		if got := tt.e.State(tt.now, tt.tags); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestVary(t *testing.T) {
	e := &Entry{Vary: VaryOn(header("Accept-Language", "en"), header("Vary", "accept-language, X-Mode"))}
	for _, tt := range []struct {
		req  http.Header
		want bool
	}{
		{header("Accept-Language", "en"), true},
		{header("Accept-Language", "fr"), false},
		{header("Accept-Language", "en", "X-Mode", "dark"), false},
		{header(), false},
	} {
		if got := e.Matches(tt.req); got != tt.want {
			t.Errorf("Matches(%v) = %v, want %v (vary %q)", tt.req, got, tt.want, e.Vary)
		}
	}
}

func TestCheckTags(t *testing.T) {
	many := make([]string, MaxTags+1)
	for i := range many {
		many[i] = "t"
	}
	for _, tt := range []struct {
		tags []string
		ok   bool
	}{
		{nil, true}, {many[:MaxTags], true}, {many, false}, {[]string{strings.Repeat("x", MaxTagBytes)}, true},
		{[]string{strings.Repeat("x", MaxTagBytes+1)}, false}, {[]string{""}, false},
	} {
		if err := CheckTags(tt.tags); (err == nil) != tt.ok {
			t.Errorf("%d tags of up to %d bytes: %v", len(tt.tags), len(tt.tags[0:min(1, len(tt.tags))]), err)
		}
	}
}

// TestMemory checks the byte bound, least-recently-used eviction, tag
// times, leases, and that forgetting tag times drops the entries they
// could have made stale.
func TestMemory(t *testing.T) {
	ctx := context.Background()
	entry := func(n int, stored time.Time) *Entry {
		return &Entry{Body: make([]byte, n), Stored: stored, Header: http.Header{}}
	}
	now := time.Now()
	m := NewMemory(3 * (1000 + 256))
	for _, k := range []string{"a", "b", "c"} {
		m.Set(ctx, k, entry(1000, now))
	}
	m.Get(ctx, "a") // b is now the least recently used
	m.Set(ctx, "d", entry(1000, now))
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if e, _ := m.Get(ctx, k); (e != nil) != want {
			t.Errorf("%s kept: %v, want %v", k, e != nil, want)
		}
	}
	if n, size := m.Len(); n != 3 || size > 3*(1000+256) {
		t.Errorf("%d entries, %d bytes", n, size)
	}
	m.Set(ctx, "huge", entry(10_000, now))
	if e, _ := m.Get(ctx, "huge"); e != nil {
		t.Error("an entry larger than the cache was kept")
	}

	m.Revalidate(ctx, []string{"x"}, false, now)
	m.Revalidate(ctx, []string{"y"}, true, now.Add(time.Second))
	m.Revalidate(ctx, []string{"y"}, true, now.Add(-time.Hour)) // late and older: nothing moves back
	if tt, _ := m.Tags(ctx, []string{"x", "y", "z"}); !tt.Stale.Equal(now.Add(time.Second)) || !tt.Expired.Equal(now.Add(time.Second)) {
		t.Errorf("tags: %+v", tt)
	}

	release, ok, _ := m.Lease(ctx, "k", time.Minute)
	if _, again, _ := m.Lease(ctx, "k", time.Minute); !ok || again {
		t.Fatalf("lease: %v, then %v", ok, again)
	}
	release()
	if _, ok, _ := m.Lease(ctx, "k", time.Nanosecond); !ok {
		t.Error("a released lease was not free")
	}

	m.Set(ctx, "old", entry(10, now.Add(-time.Hour)))
	m.Set(ctx, "new", entry(10, now.Add(time.Hour)))
	m.forgetTagsLocked()
	if e, _ := m.Get(ctx, "old"); e != nil {
		t.Error("an entry older than the forgotten tag times was kept")
	}
	if e, _ := m.Get(ctx, "new"); e == nil {
		t.Error("an entry newer than every tag time was dropped")
	}
}
