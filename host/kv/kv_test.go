package kv

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/internal/kvmem"
	"github.com/wasmroute/wasmroute/internal/testserver"
)

// clock is a settable time source for expiry tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// stores opens each implementation with a clock and a quota. Redis keeps
// its own time: the tests that move the clock skip their expiry steps for
// it, and TestRedisTTL checks its TTLs in real time.
var stores = map[string]func(t *testing.T, c *clock, quota int64) Store{
	"redis": func(t *testing.T, c *clock, quota int64) Store {
		srv := testserver.Redis(t)
		r, err := OpenRedis(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r.Store("test", quota)
	},
	"memory": func(t *testing.T, c *clock, quota int64) Store { return kvmem.New(c.now, quota) },
	"bolt": func(t *testing.T, c *clock, quota int64) Store {
		s, err := OpenBolt(filepath.Join(t.TempDir(), "kv.db"), quota)
		if err != nil {
			t.Fatal(err)
		}
		s.now = c.now
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// TestStores runs the same contract against every implementation.
func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_000_000, 0)}
			s := open(t, c, 0)
			if _, ok, err := s.Get(ctx, "missing"); ok || err != nil {
				t.Fatalf("Get(missing) = %v, %v", ok, err)
			}
			for _, k := range []string{"user:2", "user:1", "other", "user:10"} {
				if err := s.Set(ctx, k, []byte("v-"+k), 0); err != nil {
					t.Fatal(err)
				}
			}
			if v, ok, err := s.Get(ctx, "user:1"); !ok || err != nil || string(v) != "v-user:1" {
				t.Fatalf("Get = %q %v %v", v, ok, err)
			}
			keys, err := s.Keys(ctx, "user:", "", 10)
			if err != nil || !reflect.DeepEqual(keys, []string{"user:1", "user:10", "user:2"}) {
				t.Fatalf("Keys = %q %v", keys, err)
			}
			if keys, _ := s.Keys(ctx, "user:", "", 2); len(keys) != 2 {
				t.Fatalf("Keys limit: %q", keys)
			}
			if keys, _ := s.Keys(ctx, "user:", "user:10", 10); !reflect.DeepEqual(keys, []string{"user:2"}) {
				t.Fatalf("Keys after user:10: %q", keys)
			}
			if err := s.Set(ctx, "temp", []byte("x"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if name == "redis" {
				s.Delete(ctx, "temp") // Redis keeps its own time: TestRedisTTL
			}
			c.t = c.t.Add(59 * time.Second)
			if _, ok, _ := s.Get(ctx, "temp"); !ok && name != "redis" {
				t.Fatal("key expired early")
			}
			c.t = c.t.Add(time.Second)
			if _, ok, _ := s.Get(ctx, "temp"); ok {
				t.Fatal("key did not expire")
			}
			if keys, _ := s.Keys(ctx, "temp", "", 10); len(keys) != 0 {
				t.Fatalf("expired key listed: %q", keys)
			}
			if err := s.Delete(ctx, "user:1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "never-set"); err != nil {
				t.Fatalf("Delete(missing) = %v", err)
			}
			if _, ok, _ := s.Get(ctx, "user:1"); ok {
				t.Fatal("deleted key still set")
			}
			// Values are copies: changing one afterwards changes nothing stored.
			v, _, _ := s.Get(ctx, "user:2")
			v[0] = 'X'
			if again, _, _ := s.Get(ctx, "user:2"); string(again) != "v-user:2" {
				t.Fatalf("stored value aliased: %q", again)
			}
		})
	}
}

func TestBoltSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "kv.db")
	s, err := OpenBolt(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(ctx, "k", []byte("durable"), 0)
	s.Close()
	s, err = OpenBolt(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, ok, _ := s.Get(ctx, "k"); !ok || string(v) != "durable" {
		t.Fatalf("after reopen: %q %v", v, ok)
	}
}
