// Package kvmem is an in-memory key-value store with expiry: the host's
// default store (host/kv.Memory) and the store guest/kv uses outside
// WebAssembly. It lives here so that neither of those imports the other.
// It also holds what every store shares: the errors, the size a pair
// counts for against a quota, and the integer encoding of Incr.
package kvmem

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of a store.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("kv: store is closed")
	// ErrQuotaExceeded is returned by a write that would take the store
	// past its quota; the store is unchanged.
	ErrQuotaExceeded = errors.New("kv: the app's storage quota is used up")
	// ErrNotInteger is returned by Incr when the value is not a decimal
	// integer, or would overflow one.
	ErrNotInteger = errors.New("kv: value is not an integer or would overflow")
)

// Size is what a pair counts for against a quota.
func Size(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// AddInt adds delta to the decimal integer in value (none when absent),
// returning the new value and its encoding, or ErrNotInteger.
func AddInt(value []byte, present bool, delta int64) (int64, []byte, error) {
	var n int64
	if present {
		var err error
		if n, err = strconv.ParseInt(string(value), 10, 64); err != nil {
			return 0, nil, ErrNotInteger
		}
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return 0, nil, ErrNotInteger
	}
	n += delta
	return n, strconv.AppendInt(nil, n, 10), nil
}

// Memory is a key-value store in process memory, lost on exit.
type Memory struct {
	mu    sync.Mutex
	m     map[string]memEntry
	now   func() time.Time
	done  bool
	quota int64 // 0: none
	size  int64 // Size of every pair held, expired ones included
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// New returns an empty store that reads time from now (time.Now if nil) and
// holds at most quota bytes of keys and values (0: no limit).
func New(now func() time.Time, quota int64) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{m: map[string]memEntry{}, now: now, quota: max(quota, 0)}
}

func (s *Memory) expired(e memEntry) bool {
	return !e.expires.IsZero() && !s.now().Before(e.expires)
}

func (s *Memory) live(key string) (memEntry, bool) {
	e, ok := s.m[key]
	if ok && s.expired(e) {
		s.remove(key, e)
		return memEntry{}, false
	}
	return e, ok
}

func (s *Memory) remove(key string, e memEntry) {
	delete(s.m, key)
	s.size -= Size(key, e.value)
}

// put stores e under key within the quota, dropping expired pairs first if
// that makes room.
func (s *Memory) put(key string, e memEntry) error {
	grow := func() int64 {
		old, ok := s.m[key]
		if !ok {
			return Size(key, e.value)
		}
		return int64(len(e.value) - len(old.value))
	}
	if s.quota > 0 && s.size+grow() > s.quota {
		for k, old := range s.m {
			if s.expired(old) {
				s.remove(k, old)
			}
		}
		if s.size+grow() > s.quota {
			return ErrQuotaExceeded
		}
	}
	s.size += grow()
	s.m[key] = e
	return nil
}

func (s *Memory) lock() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Get implements host/kv.Store.
func (s *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	if err := s.lock(); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	e, ok := s.live(key)
	return bytes.Clone(e.value), ok, nil
}

// Set implements host/kv.Store.
func (s *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return s.put(key, s.entry(value, ttl))
}

func (s *Memory) entry(value []byte, ttl time.Duration) memEntry {
	e := memEntry{value: bytes.Clone(value)}
	if ttl > 0 {
		e.expires = s.now().Add(ttl)
	}
	return e
}

// Delete implements host/kv.Store.
func (s *Memory) Delete(_ context.Context, key string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		s.remove(key, e)
	}
	return nil
}

// Incr implements host/kv.Store.
func (s *Memory) Incr(_ context.Context, key string, delta int64) (int64, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	e, ok := s.live(key)
	n, enc, err := AddInt(e.value, ok, delta)
	if err != nil {
		return 0, err
	}
	return n, s.put(key, memEntry{value: enc, expires: e.expires})
}

// CompareAndSwap implements host/kv.Store.
func (s *Memory) CompareAndSwap(_ context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	e, ok := s.live(key)
	if ok != (old != nil) || (ok && !bytes.Equal(e.value, old)) {
		return false, nil
	}
	if err := s.put(key, s.entry(value, ttl)); err != nil {
		return false, err
	}
	return true, nil
}

// Keys implements host/kv.Store.
func (s *Memory) Keys(_ context.Context, prefix, after string, limit int) ([]string, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) && k > after {
			if _, ok := s.live(k); ok {
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return keys, nil
}

// Close implements host/kv.Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	return nil
}
