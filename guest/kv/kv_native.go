//go:build !wasip1

package kv

import (
	"context"
	"time"

	"github.com/wasmroute/wasmroute/internal/kvmem"
)

// memory is the store handlers use outside WebAssembly.
var memory = kvmem.New(nil)

// Reset empties the in-memory store handler tests run against. It exists
// only outside WebAssembly.
func Reset() { memory = kvmem.New(nil) }

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

func keys(prefix string) ([]string, error) {
	list, err := memory.Keys(context.Background(), prefix, MaxKeys)
	if err != nil {
		return nil, ErrStore
	}
	return list, nil
}
