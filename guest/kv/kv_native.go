//go:build !wasip1

package kv

import (
	"context"
	"errors"
	"time"

	"github.com/wasmroute/wasmroute/internal/kvmem"
)

// memory is the store handlers use outside WebAssembly.
var memory = kvmem.New(nil, 0)

// Reset empties the in-memory store handler tests run against. It exists
// only outside WebAssembly.
func Reset() { memory = kvmem.New(nil, 0) }

func get(key string) ([]byte, error) {
	v, ok, err := memory.Get(context.Background(), key)
	switch {
	case err != nil:
		return nil, ErrStore
	case !ok:
		return nil, ErrNotFound
	}
	return v, nil
}

func set(key string, value []byte, ttl time.Duration) error {
	if memory.Set(context.Background(), key, value, ttl) != nil {
		return ErrStore
	}
	return nil
}

func del(key string) error {
	if memory.Delete(context.Background(), key) != nil {
		return ErrStore
	}
	return nil
}

func exists(key string) (bool, error) {
	_, ok, err := memory.Get(context.Background(), key)
	if err != nil {
		return false, ErrStore
	}
	return ok, nil
}

func list(prefix, after string) ([]string, error) {
	keys, err := memory.Keys(context.Background(), prefix, after, MaxKeys)
	if err != nil {
		return nil, ErrStore
	}
	return keys, nil
}

func incr(key string, delta int64) (int64, error) {
	n, err := memory.Incr(context.Background(), key, delta)
	if errors.Is(err, kvmem.ErrNotInteger) {
		return 0, ErrNotInteger
	} else if err != nil {
		return 0, ErrStore
	}
	return n, nil
}

func compareAndSwap(key string, old, value []byte, ttl time.Duration) (bool, error) {
	ok, err := memory.CompareAndSwap(context.Background(), key, old, value, ttl)
	if err != nil {
		return false, ErrStore
	}
	return ok, nil
}
