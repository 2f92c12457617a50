// Package kv is the key-value store of a wasmroute app, the edge runtimes'
// standard storage (Workers KV, Spin's key-value store): one store per app,
// shared by every route and instance, durable across restarts when the host
// has a data directory.
//
//	if err := kv.Set("user:42", data, kv.TTL(time.Hour)); err != nil { ... }
//	data, err := kv.Get("user:42") // kv.ErrNotFound when missing
//	views, err := kv.Incr("views:42", 1) // atomic
//	ok, err := kv.CompareAndSwap("user:42", data, updated)
//	for key, err := range kv.All("user:") { ... } // every key, a page at a time
//
// Keys are 1 to 512 bytes of UTF-8; values at most 4 MiB; an app's store
// holds what its host's quota allows (64 MiB unless the operator says
// otherwise). Outside
// WebAssembly (handler tests under plain `go test`) the package uses an
// in-memory store, which Reset empties.
package kv

import (
	"errors"
	"iter"
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
	// ErrQuotaExceeded is a write refused because the app's store is full.
	ErrQuotaExceeded = errors.New("kv: the app's storage quota is used up")
	// ErrNotInteger is Incr on a value that is not a decimal integer, or
	// would overflow one.
	ErrNotInteger = errors.New("kv: value is not an integer or would overflow")
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
// empty prefix lists every key. List and All go past MaxKeys.
func Keys(prefix string) ([]string, error) {
	keys, _, err := List(prefix, "")
	return keys, err
}

// List returns a page of up to MaxKeys keys starting with prefix, in byte
// order, after cursor ("" for the first page), and the cursor of the next
// page, "" after the last.
func List(prefix, cursor string) (keys []string, next string, err error) {
	for _, s := range []string{prefix, cursor} {
		if len(s) > abi.MaxKVKey || !utf8.ValidString(s) {
			return nil, "", ErrInvalidKey
		}
	}
	if keys, err = list(prefix, cursor); err != nil {
		return nil, "", err
	}
	if len(keys) == MaxKeys {
		next = keys[len(keys)-1]
	}
	return keys, next, nil
}

// All yields every key starting with prefix, in byte order, a page at a
// time. It stops at the first error, which it yields.
func All(prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		cursor := ""
		for {
			keys, next, err := List(prefix, cursor)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range keys {
				if !yield(k, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// Incr adds delta to the integer stored under key, as decimal text (a
// missing key counts as 0), and returns the new value. It is atomic: every
// instance of every route sees each increment. The key keeps its expiry.
func Incr(key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	return incr(key, delta)
}

// CompareAndSwap stores value under key only if key now holds old, or, with
// old nil, only if key is not set; it reports whether it stored. It is
// atomic, so a read-modify-write loop over it loses no update:
//
//	for {
//		old, err := kv.Get(key) // nil old with kv.ErrNotFound
//		...
//		if ok, err := kv.CompareAndSwap(key, old, updated); ok || err != nil { break }
//	}
func CompareAndSwap(key string, old, value []byte, opts ...Option) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	if len(value) > abi.MaxKVValue {
		return false, ErrValueTooLarge
	}
	var o setOptions
	for _, opt := range opts {
		opt(&o)
	}
	return compareAndSwap(key, old, value, o.ttl)
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
	case abi.ErrQuotaExceeded:
		return ErrQuotaExceeded
	case abi.ErrNotInteger:
		return ErrNotInteger
	default:
		return ErrStore
	}
}
