package kv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestAtomicOps checks Incr and CompareAndSwap, step by step, on every
// store.
func TestAtomicOps(t *testing.T) {
	ctx := context.Background()
	type step struct {
		name string
		do   func(s Store) (string, error) // a result to compare
		want string
		err  error
	}
	incr := func(key string, d int64) func(Store) (string, error) {
		return func(s Store) (string, error) { n, err := s.Incr(ctx, key, d); return strconv.FormatInt(n, 10), err }
	}
	cas := func(key string, old []byte, value string) func(Store) (string, error) {
		return func(s Store) (string, error) {
			ok, err := s.CompareAndSwap(ctx, key, old, []byte(value), 0)
			return strconv.FormatBool(ok), err
		}
	}
	get := func(key string) func(Store) (string, error) {
		return func(s Store) (string, error) { v, ok, err := s.Get(ctx, key); return fmt.Sprintf("%s %v", v, ok), err }
	}
	set := func(key, value string, ttl time.Duration) func(Store) (string, error) {
		return func(s Store) (string, error) { return "", s.Set(ctx, key, []byte(value), ttl) }
	}
	steps := []step{
		{"incr of a missing key starts at 0", incr("n", 1), "1", nil},
		{"incr adds", incr("n", 41), "42", nil},
		{"incr subtracts", incr("n", -50), "-8", nil},
		{"the value is decimal text", get("n"), "-8 true", nil},
		{"incr of text", func(s Store) (string, error) { s.Set(ctx, "t", []byte("abc"), 0); return incr("t", 1)(s) }, "0", ErrNotInteger},
		{"text is left alone", get("t"), "abc true", nil},
		{"incr past int64", func(s Store) (string, error) {
			s.Set(ctx, "big", []byte("9223372036854775807"), 0)
			return incr("big", 1)(s)
		}, "0", ErrNotInteger},
		{"incr keeps the expiry", func(s Store) (string, error) { s.Set(ctx, "e", []byte("1"), time.Minute); return incr("e", 1)(s) }, "2", nil},
		{"cas on an absent key, expecting absent", cas("c", nil, "v1"), "true", nil},
		{"cas expecting absent, key set", cas("c", nil, "v2"), "false", nil},
		{"cas with the wrong old value", cas("c", []byte("v0"), "v2"), "false", nil},
		{"value unchanged", get("c"), "v1 true", nil},
		{"cas with the right old value", cas("c", []byte("v1"), "v2"), "true", nil},
		{"value swapped", get("c"), "v2 true", nil},
		{"cas expecting an empty value, key absent", cas("d", []byte{}, "x"), "false", nil},
		{"cas expecting absent, key set with a TTL", func(s Store) (string, error) {
			set("x", "old", time.Second)(s)
			return cas("x", nil, "new")(s)
		}, "false", nil},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t, &clock{t: time.Now()}, 0)
			for _, st := range steps {
				got, err := st.do(s)
				if !errors.Is(err, st.err) || (err == nil && got != st.want) {
					t.Fatalf("%s: %q %v, want %q %v", st.name, got, err, st.want, st.err)
				}
			}
		})
	}
}

// TestConcurrentUpdates runs 500 increments, 8 at a time, through Incr and
// through CompareAndSwap loops: none may be lost.
func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	casIncr := func(s Store, key string) error {
		for {
			old, ok, err := s.Get(ctx, key)
			if err != nil {
				return err
			}
			n := 0
			if ok {
				n, _ = strconv.Atoi(string(old))
			} else {
				old = nil
			}
			swapped, err := s.CompareAndSwap(ctx, key, old, []byte(strconv.Itoa(n+1)), 0)
			if swapped || err != nil {
				return err
			}
		}
	}
	ops := map[string]func(s Store, key string) error{
		"incr": func(s Store, key string) error { _, err := s.Incr(ctx, key, 1); return err },
		"cas":  casIncr,
	}
	for name, open := range stores {
		for op, update := range ops {
			t.Run(name+"/"+op, func(t *testing.T) {
				s := open(t, &clock{t: time.Now()}, 0)
				sem := make(chan struct{}, 8)
				var wg sync.WaitGroup
				errs := make(chan error, 500)
				for range 500 {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						errs <- update(s, "counter")
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
				if v, _, _ := s.Get(ctx, "counter"); string(v) != "500" {
					t.Fatalf("counter = %s after 500 updates", v)
				}
			})
		}
	}
}

// TestKeysPages lists 2,500 keys a page at a time: each key once, in order.
func TestKeysPages(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open(t, &clock{t: time.Now()}, 0)
			for i := range 2500 {
				s.Set(ctx, fmt.Sprintf("k:%05d", i), []byte("v"), 0)
			}
			s.Set(ctx, "other", []byte("v"), 0)
			var all []string
			after, pages := "", 0
			for {
				page, err := s.Keys(ctx, "k:", after, 1000)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page...)
				pages++
				if len(page) < 1000 {
					break
				}
				after = page[len(page)-1]
			}
			if len(all) != 2500 || pages != 3 {
				t.Fatalf("%d keys in %d pages, want 2500 in 3", len(all), pages)
			}
			for i, k := range all {
				if k != fmt.Sprintf("k:%05d", i) {
					t.Fatalf("key %d is %s", i, k)
				}
			}
		})
	}
}

// TestQuota fills a store with a 100-byte quota: a write past it fails and
// changes nothing, deleting or expiring makes room, and overwriting counts
// only the difference.
func TestQuota(t *testing.T) {
	ctx := context.Background()
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Now()}
			s := open(t, c, 100)
			v := func(n int) []byte { return make([]byte, n) }
			steps := []struct {
				name string
				do   func() error
				err  error
			}{
				{"50 bytes", func() error { return s.Set(ctx, "a", v(49), 0) }, nil},
				{"60 more", func() error { return s.Set(ctx, "b", v(59), 0) }, ErrQuotaExceeded},
				{"overwrite with 99", func() error { return s.Set(ctx, "a", v(99), 0) }, nil},
				{"incr past the quota", func() error { _, err := s.Incr(ctx, "n", 1); return err }, ErrQuotaExceeded},
				{"cas past the quota", func() error { _, err := s.CompareAndSwap(ctx, "c", nil, v(1), 0); return err }, ErrQuotaExceeded},
				{"delete makes room", func() error { s.Delete(ctx, "a"); return s.Set(ctx, "b", v(59), time.Second) }, nil},
				{"full again", func() error { return s.Set(ctx, "c", v(59), 0) }, ErrQuotaExceeded},
				{"expired pairs make room", func() error { c.t = c.t.Add(time.Hour); return s.Set(ctx, "c", v(59), 0) }, nil},
			}
			if name == "redis" {
				steps = steps[:len(steps)-1] // Redis keeps its own time: TestRedisTTL
			}
			for _, st := range steps {
				if err := st.do(); !errors.Is(err, st.err) {
					t.Fatalf("%s: %v, want %v", st.name, err, st.err)
				}
			}
			if _, ok, _ := s.Get(ctx, "n"); ok {
				t.Fatal("a refused Incr left a value")
			}
		})
	}
}

// TestBoltQuotaSurvivesReopen checks that the size a bolt store counts is
// stored with it.
func TestBoltQuotaSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	s, err := OpenBolt(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	s.Set(ctx, "a", make([]byte, 79), 0)
	s.Close()
	if s, err = OpenBolt(path, 100); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set(ctx, "b", make([]byte, 30), 0); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("after reopen, a write past the quota: %v", err)
	}
}

// TestRedisTTL checks, in real time, that a Redis store's TTLs are Redis's:
// the key expires, leaves listings, and its bytes count no more against
// the quota.
func TestRedisTTL(t *testing.T) {
	ctx := context.Background()
	s := stores["redis"](t, nil, 100)
	if err := s.Set(ctx, "temp", make([]byte, 59), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r := s.(*redisStore)
	if ttl, err := r.c.PTTL(ctx, r.data+"temp").Result(); err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("PTTL %v %v, want a Redis TTL of at most 300ms", ttl, err)
	}
	if err := s.Set(ctx, "b", make([]byte, 59), 0); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("past the quota: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := s.Get(ctx, "temp"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key did not expire")
		}
		time.Sleep(50 * time.Millisecond) // Redis's own clock runs
	}
	if keys, _ := s.Keys(ctx, "", "", 10); len(keys) != 0 {
		t.Fatalf("an expired key is listed: %q", keys)
	}
	if err := s.Set(ctx, "b", make([]byte, 59), 0); err != nil {
		t.Fatalf("the expired key's bytes still count: %v", err)
	}
}
