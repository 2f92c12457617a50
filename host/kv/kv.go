// Package kv is the host side of the key-value store guests reach through
// github.com/wasmroute/wasmroute/guest/kv: one store per app, shared by every
// route and instance. Store is small on purpose, so a backend other than the
// embedded bbolt one (Redis, say) needs only these five methods; guests do not
// change.
package kv

import (
	"context"
	"time"

	"github.com/wasmroute/wasmroute/internal/kvmem"
)

// Store is an app's key-value store. Implementations must be safe for
// concurrent use, and a failed Set or Delete must leave the previous value.
type Store interface {
	// Get returns the value of key, or ok false if it is not set or expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key. A ttl above zero makes the key expire.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Keys returns up to limit unexpired keys starting with prefix, in byte
	// order.
	Keys(ctx context.Context, prefix string, limit int) ([]string, error)
	// Close releases the store.
	Close() error
}

// ErrClosed is returned by a store after Close.
var ErrClosed = kvmem.ErrClosed

// Memory is a Store in process memory, lost on exit: for tests, and for
// hosts embedded without a data directory.
type Memory = kvmem.Memory

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return kvmem.New(nil) }
