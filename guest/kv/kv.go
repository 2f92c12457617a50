// Package kv is the key-value store of a wasmroute app, the edge runtimes'
// standard storage (Workers KV, Spin's key-value store): one store per app,
// shared by every route and instance, durable across restarts when the host
// has a data directory.
//
//	if err := kv.Set("user:42", data, kv.TTL(time.Hour)); err != nil { ... }
//	data, err := kv.Get("user:42") // kv.ErrNotFound when missing
//
// Keys are 1 to 512 bytes of UTF-8; values at most 4 MiB. Outside
// WebAssembly (handler tests under plain `go test`) the package uses an
// in-memory store, which Reset empties.
package kv

import (
	"errors"
	"time"
	"unicode/utf8"

	"github.com/wasmroute/wasmroute/abi"
)

// Errors the store returns.
var (
	ErrNotFound      = errors.New("kv: key not found")
	ErrInvalidKey    = errors.New("kv: key must be 1 to 512 bytes of UTF-8")
	ErrValueTooLarge = errors.New("kv: value larger than 4 MiB")
	ErrStore         = errors.New("kv: the store failed (see the host log)")
)

// MaxKeys is the most keys one Keys call returns.
const MaxKeys = abi.MaxKVKeys

// Option modifies a Set.
type Option func(*setOptions)

type setOptions struct{ ttl time.Duration }

// TTL makes a key expire after d. Durations under a millisecond round up to
// one.
func TTL(d time.Duration) Option {
	return func(o *setOptions) {
		if d > 0 && d < time.Millisecond {
			d = time.Millisecond
		}
		o.ttl = d
	}
}

// Get returns the value of key, or ErrNotFound.
func Get(key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return get(key)
}

// Set stores value under key. On error the previous value is unchanged.
func Set(key string, value []byte, opts ...Option) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if len(value) > abi.MaxKVValue {
		return ErrValueTooLarge
	}
	var o setOptions
	for _, opt := range opts {
		opt(&o)
	}
	return set(key, value, o.ttl)
}

// Delete removes key. Deleting a missing key is not an error.
func Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return del(key)
}

// Exists reports whether key is set.
func Exists(key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	return exists(key)
}

// Keys returns up to MaxKeys keys starting with prefix, in byte order. An
// empty prefix lists every key.
func Keys(prefix string) ([]string, error) {
	if len(prefix) > abi.MaxKVKey || !utf8.ValidString(prefix) {
		return nil, ErrInvalidKey
	}
	return keys(prefix)
}

func checkKey(key string) error {
	if key == "" || len(key) > abi.MaxKVKey || !utf8.ValidString(key) {
		return ErrInvalidKey
	}
	return nil
}

// codeErr maps a host result code to an error.
func codeErr(code int32) error {
	switch code {
	case abi.ErrNotFound:
		return ErrNotFound
	case abi.ErrKeyInvalid:
		return ErrInvalidKey
	case abi.ErrValueTooLarge:
		return ErrValueTooLarge
	default:
		return ErrStore
	}
}
