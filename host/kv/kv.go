// Package kv is the host side of the key-value store guests reach through
// github.com/wasmroute/wasmroute/guest/kv: one store per app, shared by every
// route and instance. Store is small on purpose, so a backend other than the
// embedded bbolt one (Redis, say) needs only these methods; guests do not
// change.
package kv

import (
	"context"
	"time"

	"github.com/wasmroute/wasmroute/internal/kvmem"
)

// Store is an app's key-value store. Implementations must be safe for
// concurrent use, Incr and CompareAndSwap must be atomic, and a failed write
// must leave the previous value.
type Store interface {
	// Get returns the value of key, or ok false if it is not set or expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value under key. A ttl above zero makes the key expire.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Incr adds delta to the decimal integer stored under key (a missing
	// key counts as 0), keeps its expiry, and returns the new value. A
	// value that is not an integer, or would overflow, is ErrNotInteger.
	Incr(ctx context.Context, key string, delta int64) (int64, error)
	// CompareAndSwap stores value under key only if key now holds old (nil:
	// only if key is not set), and reports whether it did.
	CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Keys returns up to limit unexpired keys that start with prefix and
	// sort after after, in byte order: after is the last key of the
	// previous page, "" for the first.
	Keys(ctx context.Context, prefix, after string, limit int) ([]string, error)
	// Close releases the store.
	Close() error
}

// Errors of the stores.
var (
	// ErrClosed is returned by a store after Close.
	ErrClosed = kvmem.ErrClosed
	// ErrQuotaExceeded is returned by a write that would take the store
	// past its quota; the store is unchanged.
	ErrQuotaExceeded = kvmem.ErrQuotaExceeded
	// ErrNotInteger is returned by Incr for a value that is not a decimal
	// integer, or that would overflow.
	ErrNotInteger = kvmem.ErrNotInteger
)

// DefaultQuota is the storage quota of an app's store, in bytes of keys and
// values, when the operator sets none: 64 MiB.
const DefaultQuota = 64 << 20

// Memory is a Store in process memory, lost on exit: for tests, and for
// hosts embedded without a data directory.
type Memory = kvmem.Memory

// NewMemory returns an empty in-memory store holding at most quota bytes
// of keys and values (0 or less: DefaultQuota).
func NewMemory(quota int64) *Memory { return kvmem.New(nil, quotaOr(quota)) }

func quotaOr(quota int64) int64 {
	if quota <= 0 {
		return DefaultQuota
	}
	return quota
}
