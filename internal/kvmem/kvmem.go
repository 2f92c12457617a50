// Package kvmem is an in-memory key-value store with expiry: the host's
// default store (host/kv.Memory) and the store guest/kv uses outside
// WebAssembly. It lives here so that neither of those imports the other.
package kvmem

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("kv: store is closed")

// Memory is a key-value store in process memory, lost on exit.
type Memory struct {
	mu   sync.Mutex
	m    map[string]memEntry
	now  func() time.Time
	done bool
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// New returns an empty store that reads time from now (time.Now if nil).
func New(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{m: map[string]memEntry{}, now: now}
}

func (s *Memory) live(key string) (memEntry, bool) {
	e, ok := s.m[key]
	if ok && !e.expires.IsZero() && !s.now().Before(e.expires) {
		delete(s.m, key)
		return memEntry{}, false
	}
	return e, ok
}

// Get implements host/kv.Store.
func (s *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, false, ErrClosed
	}
	e, ok := s.live(key)
	return bytes.Clone(e.value), ok, nil
}

// Set implements host/kv.Store.
func (s *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	e := memEntry{value: bytes.Clone(value)}
	if ttl > 0 {
		e.expires = s.now().Add(ttl)
	}
	s.m[key] = e
	return nil
}

// Delete implements host/kv.Store.
func (s *Memory) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrClosed
	}
	delete(s.m, key)
	return nil
}

// Keys implements host/kv.Store.
func (s *Memory) Keys(_ context.Context, prefix string, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil, ErrClosed
	}
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
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
