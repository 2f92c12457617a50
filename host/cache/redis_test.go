package cache

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmroute/wasmroute/internal/testserver"
)

// eventually waits up to 10 seconds for cond, which another host's message
// or a reconnection makes true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling for a message or a reconnection
	}
}

// TestRedisStores runs two stores, two hosts, on one redis-server: entries
// and tag times reach the other, a write drops the other's local copy, one
// lease at a time, and with Redis down lookups fail until it is back.
func TestRedisStores(t *testing.T) {
	ctx := context.Background()
	srv := testserver.Redis(t)
	open := func() *Redis {
		opts, _ := redis.ParseURL(srv.URL)
		opts.MaxRetries = 0
		c := redis.NewClient(opts)
		r := NewRedis(c, 0)
		t.Cleanup(func() { r.Close(); c.Close() })
		eventually(t, "subscribed", r.Connected)
		return r
	}
	a, b := open(), open()
	entry := func(body string) *Entry {
		return &Entry{Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(body), Stored: time.Now(), Fresh: time.Minute, Stale: time.Hour, Tags: []string{"t"}}
	}
	if err := a.Set(ctx, "k", entry("one")); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, "k"); err != nil || e == nil || string(e.Body) != "one" || e.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("b.Get: %+v %v", e, err)
	}
	a.Set(ctx, "k", entry("two"))
	eventually(t, "b drops its local copy", func() bool { e, _ := b.Get(ctx, "k"); return e != nil && string(e.Body) == "two" })

	at := time.Now()
	if err := a.Revalidate(ctx, []string{"t"}, false, at); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b learns the tag time", func() bool {
		tt, _ := b.Tags(ctx, []string{"t", "u"})
		return !tt.Stale.Before(at) && tt.Expired.IsZero()
	})
	a.Revalidate(ctx, []string{"t"}, true, at.Add(-time.Hour)) // older: the stale time stays
	eventually(t, "b learns the expiry", func() bool { tt, _ := b.Tags(ctx, []string{"t"}); return !tt.Expired.IsZero() })
	if tt, _ := b.Tags(ctx, []string{"t"}); tt.Stale.Before(at) {
		t.Errorf("an older revalidation lowered the tag time: %v < %v", tt.Stale, at)
	}

	release, ok, err := a.Lease(ctx, "k", time.Minute)
	if _, other, _ := b.Lease(ctx, "k", time.Minute); err != nil || !ok || other {
		t.Fatalf("leases: a %v %v, b %v", ok, err, other)
	}
	release()
	if _, ok, _ := b.Lease(ctx, "k", time.Minute); !ok {
		t.Error("a released lease was not free")
	}

	srv.Stop()
	eventually(t, "lookups fail with redis down", func() bool { _, err := a.Get(ctx, "k"); return err != nil })
	if err := a.Set(ctx, "k2", entry("x")); err == nil {
		t.Error("a write succeeded with redis down")
	}
	srv.Start()
	eventually(t, "lookups work again", func() bool { e, err := a.Get(ctx, "k"); return err == nil && e == nil })
	if err := a.Set(ctx, "k", entry("three")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b is back too", func() bool { e, _ := b.Get(ctx, "k"); return e != nil && string(e.Body) == "three" })
}

// TestRedisForgetsTags revalidates more tags than the stores keep: the
// hash in Redis and every host's copy are dropped, and what was generated
// before counts as stale, on both hosts and after a resync.
func TestRedisForgetsTags(t *testing.T) {
	defer func(n int) { maxTagTimes = n }(maxTagTimes)
	maxTagTimes = 3
	ctx := context.Background()
	srv := testserver.Redis(t)
	var stores []*Redis
	for range 2 {
		opts, _ := redis.ParseURL(srv.URL)
		c := redis.NewClient(opts)
		r := NewRedis(c, 0)
		t.Cleanup(func() { r.Close(); c.Close() })
		eventually(t, "subscribed", r.Connected)
		stores = append(stores, r)
	}
	a, b := stores[0], stores[1]
	before := time.Now()
	for _, tag := range []string{"t1", "t2", "t3", "t4"} {
		if err := a.Revalidate(ctx, []string{tag}, false, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := a.c.HLen(ctx, redisTags).Result(); n != 1 {
		t.Errorf("the tag hash holds %d fields, want only the time it was dropped", n)
	}
	for name, s := range map[string]*Redis{"a": a, "b": b} {
		eventually(t, name+" forgets", func() bool { tt, _ := s.Tags(ctx, []string{"other"}); return tt.Stale.After(before) })
	}
	b.resync(ctx)
	if tt, _ := b.Tags(ctx, []string{"other"}); !tt.Stale.After(before) {
		t.Errorf("after a resync the forgetting was lost: %+v", tt)
	}
}
