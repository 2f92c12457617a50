package cache

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// maxTagTimes caps the tags whose revalidation times a store keeps (a
// variable for the tests).
var maxTagTimes = 100_000

// Memory is a Store in process memory, bounded in bytes: storing past the
// bound evicts the least recently used entries.
type Memory struct {
	mu      sync.Mutex
	max     int64
	size    int64
	lru     *list.List // of *memEntry, most recently used first
	entries map[string]*list.Element
	tags    map[string]Tags
	leases  map[string]time.Time // key -> when the lease ends
}

type memEntry struct {
	key   string
	entry *Entry
}

// NewMemory returns an empty Memory holding at most maxBytes of entries (0
// or less: DefaultMaxBytes).
func NewMemory(maxBytes int64) *Memory {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Memory{max: maxBytes, lru: list.New(), entries: map[string]*list.Element{}, tags: map[string]Tags{}, leases: map[string]time.Time{}}
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el := m.entries[key]
	if el == nil {
		return nil, nil
	}
	m.lru.MoveToFront(el)
	return el.Value.(*memEntry).entry, nil
}

// Set implements Store. An entry larger than the whole cache is not kept.
func (m *Memory) Set(_ context.Context, key string, e *Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(key)
	size := e.Size()
	if size > m.max {
		return nil
	}
	for m.size+size > m.max && m.lru.Len() > 0 {
		m.removeLocked(m.lru.Back().Value.(*memEntry).key)
	}
	m.entries[key] = m.lru.PushFront(&memEntry{key, e})
	m.size += size
	return nil
}

func (m *Memory) removeLocked(key string) {
	if el := m.entries[key]; el != nil {
		m.size -= el.Value.(*memEntry).entry.Size()
		m.lru.Remove(el)
		delete(m.entries, key)
	}
}

// Delete removes the entry under key, if any.
func (m *Memory) Delete(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(key)
}

// Clear removes every entry, and keeps the tag times.
func (m *Memory) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Init()
	clear(m.entries)
	m.size = 0
}

// Len returns the number of entries and their bytes.
func (m *Memory) Len() (entries int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lru.Len(), m.size
}

// Tags implements Store.
func (m *Memory) Tags(_ context.Context, tags []string) (Tags, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return latest(m.tags, tags, Tags{}), nil
}

// Revalidate implements Store.
func (m *Memory) Revalidate(_ context.Context, tags []string, expire bool, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range tags {
		m.tags[t] = m.tags[t].raise(at, expire)
	}
	if len(m.tags) > maxTagTimes {
		m.forgetTagsLocked()
	}
	return nil
}

// forgetTagsLocked keeps the tag times bounded: it drops them all, and with
// them every entry stored before the newest, which those times could have
// made stale.
func (m *Memory) forgetTagsLocked() {
	var newest time.Time
	for _, tt := range m.tags {
		if tt.Stale.After(newest) {
			newest = tt.Stale
		}
	}
	for key, el := range m.entries {
		if !el.Value.(*memEntry).entry.Stored.After(newest) {
			m.removeLocked(key)
		}
	}
	clear(m.tags)
}

// Lease implements Store: a lease ends when released or after ttl.
func (m *Memory) Lease(_ context.Context, key string, ttl time.Duration) (func(), bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if until, held := m.leases[key]; held && now.Before(until) {
		return nil, false, nil
	}
	m.leases[key] = now.Add(ttl)
	return func() {
		m.mu.Lock()
		delete(m.leases, key)
		m.mu.Unlock()
	}, true, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
