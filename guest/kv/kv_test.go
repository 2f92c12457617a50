//go:build !wasip1

package kv

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNativeStore(t *testing.T) {
	Reset()
	if _, err := Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) = %v", err)
	}
	if err := Set("a:1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	Set("a:2", []byte("two"))
	Set("b:1", []byte("other"))
	if v, err := Get("a:1"); err != nil || string(v) != "one" {
		t.Fatalf("Get = %q %v", v, err)
	}
	if ok, _ := Exists("a:2"); !ok {
		t.Fatal("Exists = false")
	}
	if keys, _ := Keys("a:"); !reflect.DeepEqual(keys, []string{"a:1", "a:2"}) {
		t.Fatalf("Keys = %q", keys)
	}
	Delete("a:1")
	if ok, _ := Exists("a:1"); ok {
		t.Fatal("deleted key exists")
	}
	Set("ttl", []byte("x"), TTL(time.Nanosecond))
	Reset()
	if keys, _ := Keys(""); len(keys) != 0 {
		t.Fatalf("after Reset: %q", keys)
	}
}

func TestInvalidInput(t *testing.T) {
	Reset()
	long := strings.Repeat("k", 513)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"empty key get", func() error { _, err := Get(""); return err }(), ErrInvalidKey},
		{"long key set", Set(long, nil), ErrInvalidKey},
		{"invalid utf-8", Set("\xff", nil), ErrInvalidKey},
		{"empty key delete", Delete(""), ErrInvalidKey},
		{"empty key exists", func() error { _, err := Exists(""); return err }(), ErrInvalidKey},
		{"long prefix", func() error { _, err := Keys(long); return err }(), ErrInvalidKey},
		{"value too large", Set("k", bytes.Repeat([]byte("v"), 4<<20+1)), ErrValueTooLarge},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if err := Set(strings.Repeat("k", 512), bytes.Repeat([]byte("v"), 4<<20)); err != nil {
		t.Fatalf("largest key and value: %v", err)
	}
}

// TestNativeAtomicOpsAndPages checks the SDK's side of Incr, CompareAndSwap,
// List and All against the native store.
func TestNativeAtomicOpsAndPages(t *testing.T) {
	Reset()
	steps := []struct {
		name string
		do   func() (any, error)
		want any
		err  error
	}{
		{"incr a missing key", func() (any, error) { return Incr("n", 2) }, int64(2), nil},
		{"incr text", func() (any, error) { Set("t", []byte("x")); return Incr("t", 1) }, int64(0), ErrNotInteger},
		{"incr an invalid key", func() (any, error) { return Incr("", 1) }, int64(0), ErrInvalidKey},
		{"cas expecting absent", func() (any, error) { return CompareAndSwap("c", nil, []byte("1")) }, true, nil},
		{"cas with a stale value", func() (any, error) { return CompareAndSwap("c", []byte("0"), []byte("2")) }, false, nil},
		{"cas with the current value", func() (any, error) { return CompareAndSwap("c", []byte("1"), []byte("2")) }, true, nil},
		{"cas of a value too large", func() (any, error) {
			return CompareAndSwap("c", []byte("2"), make([]byte, 4<<20+1))
		}, false, ErrValueTooLarge},
	}
	for _, st := range steps {
		got, err := st.do()
		if !errors.Is(err, st.err) || got != st.want {
			t.Fatalf("%s: %v %v, want %v %v", st.name, got, err, st.want, st.err)
		}
	}
	Reset()
	for i := range 2345 {
		Set("p:"+strconv.Itoa(10000+i), []byte("v"))
	}
	keys, next, err := List("p:", "")
	if err != nil || len(keys) != MaxKeys || next != keys[len(keys)-1] {
		t.Fatalf("first page: %d keys, next %q, %v", len(keys), next, err)
	}
	n := 0
	for _, err := range All("p:") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2345 {
		t.Fatalf("All yielded %d keys, want 2345", n)
	}
}
