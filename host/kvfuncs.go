package host

import (
	"context"
	"errors"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/host/kv"
)

// The key-value host functions. Each validates what the guest passed before
// touching the store, so a refused write never reaches it and the previous
// value stays.

// kvKey reads and checks a key from guest memory.
func kvKey(mod api.Module, ptr, n uint32) (string, int32) {
	if n == 0 || n > abi.MaxKVKey {
		return "", abi.ErrKeyInvalid
	}
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return "", abi.ErrInvalid
	}
	if !utf8.Valid(b) {
		return "", abi.ErrKeyInvalid
	}
	return string(b), 0
}

// kvCall starts a key-value host function: it finds the request and reads
// the key at stack[0:2]. On failure it has already set the result.
func kvCall(ctx context.Context, fn string, mod api.Module, stack []uint64) (*call, string, bool) {
	c := callFrom(ctx)
	if c == nil {
		result(stack, abi.ErrState)
		return nil, "", false
	}
	key, code := kvKey(mod, uint32(stack[0]), uint32(stack[1]))
	if code == abi.ErrInvalid {
		code = c.outOfBounds(fn, uint32(stack[0]), uint32(stack[1]))
	}
	if code != 0 {
		result(stack, code)
		return nil, "", false
	}
	return c, key, true
}

// kvFailed logs a store error and returns the code for the guest. Running
// out of quota, and Incr of a value that is not a number, are the guest's
// business, not failures of the store.
func (c *call) kvFailed(op string, err error) int32 {
	switch {
	case errors.Is(err, kv.ErrQuotaExceeded):
		c.logRefusal("kv write refused", slog.String("op", op), slog.String("reason", err.Error()))
		return abi.ErrQuotaExceeded
	case errors.Is(err, kv.ErrNotInteger):
		return abi.ErrNotInteger
	}
	c.h.log.Error("kv store failed", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
		slog.String("op", op), slog.String("error", err.Error()))
	return abi.ErrStore
}

// copyOut copies data to guest memory if it fits and returns its length.
func copyOut(mod api.Module, ptr, capacity uint32, data []byte) int32 {
	if uint32(len(data)) <= capacity && !mod.Memory().Write(ptr, data) {
		return abi.ErrInvalid
	}
	return int32(len(data))
}

func kvGet(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVGet, mod, stack)
	if !ok {
		return
	}
	// A guest whose buffer was too small calls again with a larger one: it
	// gets the value it was told the length of.
	value, found := c.kvStash, true
	if c.kvStashKey != key || value == nil {
		var err error
		held := c.pause() // the store may be across the network
		value, found, err = c.h.kv.Get(c, key)
		c.resume(held)
		if err != nil {
			result(stack, c.kvFailed("get", err))
			return
		}
	}
	if !found {
		result(stack, abi.ErrNotFound)
		return
	}
	n := copyOut(mod, uint32(stack[2]), uint32(stack[3]), value)
	if n == abi.ErrInvalid {
		n = c.outOfBounds(abi.FuncKVGet, uint32(stack[2]), uint32(stack[3]))
	}
	if int(uint32(stack[3])) < len(value) {
		c.kvStashKey, c.kvStash = key, value
	} else {
		c.kvStashKey, c.kvStash = "", nil
	}
	result(stack, n)
}

// kvValue reads the value and TTL a write passes in args (val_ptr,
// val_len, ttl_ms), checked before the store sees them, and forgets a value
// kv_get kept for a retry. A code other than 0 is the guest's answer.
func (c *call) kvValue(fn string, mod api.Module, args []uint64) ([]byte, time.Duration, int32) {
	ptr, n := uint32(args[0]), uint32(args[1])
	if n > abi.MaxKVValue {
		return nil, 0, abi.ErrValueTooLarge
	}
	value, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return nil, 0, c.outOfBounds(fn, ptr, n)
	}
	ttl := time.Duration(int64(args[2])) * time.Millisecond
	if ttl < 0 {
		return nil, 0, abi.ErrInvalid
	}
	c.kvStashKey, c.kvStash = "", nil
	return value, ttl, 0
}

func kvSet(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVSet, mod, stack)
	if !ok {
		return
	}
	value, ttl, code := c.kvValue(abi.FuncKVSet, mod, stack[2:5])
	if code != 0 {
		result(stack, code)
		return
	}
	// The store copies value before Set returns; the guest memory view is
	// not kept.
	result(stack, c.kvWrite("set", func() error { return c.h.kv.Set(c, key, value, ttl) }))
}

func kvDelete(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVDelete, mod, stack)
	if !ok {
		return
	}
	c.kvStashKey, c.kvStash = "", nil
	result(stack, c.kvWrite("delete", func() error { return c.h.kv.Delete(c, key) }))
}

// kvWrite runs a store write without the call's CPU slot (a durable store
// may sync to disk, a remote one answer slowly) and returns the code for
// the guest. Reads give the slot back too.
func (c *call) kvWrite(op string, write func() error) int32 {
	held := c.pause()
	err := write()
	c.resume(held)
	if err != nil {
		return c.kvFailed(op, err)
	}
	return 0
}

func kvExists(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVExists, mod, stack)
	if !ok {
		return
	}
	held := c.pause()
	_, ok, err := c.h.kv.Get(c, key)
	c.resume(held)
	switch {
	case err != nil:
		result(stack, c.kvFailed("exists", err))
	case ok:
		result(stack, 1)
	default:
		result(stack, 0)
	}
}

func kvKeys(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	if c == nil {
		result(stack, abi.ErrState)
		return
	}
	var prefix, after string
	for i, s := range []*string{&prefix, &after} {
		if n := uint32(stack[2*i+1]); n > 0 {
			var code int32
			if *s, code = kvKey(mod, uint32(stack[2*i]), n); code != 0 {
				result(stack, code)
				return
			}
		}
	}
	held := c.pause()
	keys, err := c.h.kv.Keys(c, prefix, after, abi.MaxKVKeys)
	c.resume(held)
	if err != nil {
		result(stack, c.kvFailed("keys", err))
		return
	}
	n := copyOut(mod, uint32(stack[4]), uint32(stack[5]), abi.AppendKeys(nil, keys))
	if n == abi.ErrInvalid {
		n = c.outOfBounds(abi.FuncKVKeys, uint32(stack[4]), uint32(stack[5]))
	}
	result(stack, n)
}

func kvIncr(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVIncr, mod, stack)
	if !ok {
		return
	}
	out := uint32(stack[3])
	if _, ok := c.guestBytes(mod, abi.FuncKVIncr, out, 8, stack); !ok {
		return
	}
	c.kvStashKey, c.kvStash = "", nil
	var n int64
	code := c.kvWrite("incr", func() (err error) { n, err = c.h.kv.Incr(c, key, int64(stack[2])); return err })
	if code == 0 {
		mod.Memory().WriteUint64Le(out, uint64(n))
	}
	result(stack, code)
}

func kvCompareAndSwap(ctx context.Context, mod api.Module, stack []uint64) {
	c, key, ok := kvCall(ctx, abi.FuncKVCompareAndSwap, mod, stack)
	if !ok {
		return
	}
	var old []byte // nil: the key must not be set
	if n := uint32(stack[3]); n != abi.KVAbsent {
		if old, ok = c.guestBytes(mod, abi.FuncKVCompareAndSwap, uint32(stack[2]), n, stack); !ok {
			return
		}
		old = append([]byte{}, old...) // non-nil even when empty
	}
	value, ttl, code := c.kvValue(abi.FuncKVCompareAndSwap, mod, stack[4:7])
	if code != 0 {
		result(stack, code)
		return
	}
	var swapped bool
	code = c.kvWrite("cas", func() (err error) {
		swapped, err = c.h.kv.CompareAndSwap(c, key, old, value, ttl)
		return err
	})
	if code == 0 && swapped {
		code = 1
	}
	result(stack, code)
}
