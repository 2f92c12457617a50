//go:build !wasip1

package kv

import (
	"bytes"
	"errors"
	"reflect"
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
