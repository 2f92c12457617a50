//go:build wasip1

package kv

import (
	"time"
	"unsafe"

	"github.com/wasmroute/wasmroute/abi"
)

//go:wasmimport wasmroute kv_get
func hostGet(keyPtr unsafe.Pointer, keyLen uint32, bufPtr unsafe.Pointer, bufLen uint32) int32

//go:wasmimport wasmroute kv_set
func hostSet(keyPtr unsafe.Pointer, keyLen uint32, valPtr unsafe.Pointer, valLen uint32, ttlMillis int64) int32

//go:wasmimport wasmroute kv_delete
func hostDelete(keyPtr unsafe.Pointer, keyLen uint32) int32

//go:wasmimport wasmroute kv_exists
func hostExists(keyPtr unsafe.Pointer, keyLen uint32) int32

//go:wasmimport wasmroute kv_keys
func hostKeys(prefixPtr unsafe.Pointer, prefixLen uint32, afterPtr unsafe.Pointer, afterLen uint32, bufPtr unsafe.Pointer, bufLen uint32) int32

//go:wasmimport wasmroute kv_incr
func hostIncr(keyPtr unsafe.Pointer, keyLen uint32, delta int64, out unsafe.Pointer) int32

//go:wasmimport wasmroute kv_cas
func hostCAS(keyPtr unsafe.Pointer, keyLen uint32, oldPtr unsafe.Pointer, oldLen uint32, valPtr unsafe.Pointer, valLen uint32, ttlMillis int64) int32

func strPtr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// fetch calls a host function that copies a result of unknown length: it
// tries a small buffer first and retries once with the size the host named.
func fetch(call func(buf []byte) int32) ([]byte, int32) {
	buf := make([]byte, 512)
	for {
		n := call(buf)
		if n < 0 {
			return nil, n
		}
		if int(n) <= len(buf) {
			return buf[:n], 0
		}
		buf = make([]byte, n)
	}
}

func get(key string) ([]byte, error) {
	v, code := fetch(func(buf []byte) int32 {
		return hostGet(strPtr(key), uint32(len(key)), bytesPtr(buf), uint32(len(buf)))
	})
	if code != 0 {
		return nil, codeErr(code)
	}
	return v, nil
}

func set(key string, value []byte, ttl time.Duration) error {
	if code := hostSet(strPtr(key), uint32(len(key)), bytesPtr(value), uint32(len(value)), ttl.Milliseconds()); code != 0 {
		return codeErr(code)
	}
	return nil
}

func del(key string) error {
	if code := hostDelete(strPtr(key), uint32(len(key))); code != 0 {
		return codeErr(code)
	}
	return nil
}

func exists(key string) (bool, error) {
	code := hostExists(strPtr(key), uint32(len(key)))
	if code < 0 {
		return false, codeErr(code)
	}
	return code == 1, nil
}

func list(prefix, after string) ([]string, error) {
	enc, code := fetch(func(buf []byte) int32 {
		return hostKeys(strPtr(prefix), uint32(len(prefix)), strPtr(after), uint32(len(after)), bytesPtr(buf), uint32(len(buf)))
	})
	if code != 0 {
		return nil, codeErr(code)
	}
	list, err := abi.DecodeKeys(string(enc), nil)
	if err != nil {
		return nil, ErrStore
	}
	return list, nil
}

func incr(key string, delta int64) (int64, error) {
	var n int64
	if code := hostIncr(strPtr(key), uint32(len(key)), delta, unsafe.Pointer(&n)); code != 0 {
		return 0, codeErr(code)
	}
	return n, nil
}

func compareAndSwap(key string, old, value []byte, ttl time.Duration) (bool, error) {
	oldLen := uint32(abi.KVAbsent)
	if old != nil {
		oldLen = uint32(len(old))
	}
	code := hostCAS(strPtr(key), uint32(len(key)), bytesPtr(old), oldLen, bytesPtr(value), uint32(len(value)), ttl.Milliseconds())
	if code < 0 {
		return false, codeErr(code)
	}
	return code == 1, nil
}
