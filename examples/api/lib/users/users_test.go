//go:build !wasip1

package users

import (
	"errors"
	"testing"

	"github.com/wasmroute/wasmroute/guest/kv"
)

// The store is guest/kv's in-memory one outside WebAssembly.
func TestStore(t *testing.T) {
	kv.Reset()
	if err := Seed(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id string
		ok bool
	}{
		{"1", true}, {"50", true}, {"0", false}, {"51", false}, {"01", false}, {"abc", false}, {"", false},
	}
	for _, tt := range tests {
		u, err := Get(tt.id)
		if (err == nil) != tt.ok || (tt.ok && (u.ID != tt.id || u.Email != "user"+tt.id+"@example.com")) {
			t.Errorf("Get(%q) = %+v, %v", tt.id, u, err)
		}
	}
	created, err := Create("Ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := List(11, 5)
	if len(page) != 1 || page[0] != created {
		t.Fatalf("page 11 = %+v, want the new user last", page)
	}
	if err := Delete(created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := Get(created.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

// Keys are the prefix and the id zero-padded to 20 digits, so that they sort
// as numbers.
func TestKey(t *testing.T) {
	for _, tt := range []struct {
		id   uint64
		want string
	}{
		{1, "user:00000000000000000001"},
		{42, "user:00000000000000000042"},
		{1763700000000000000, "user:01763700000000000000"},
		{18446744073709551615, "user:18446744073709551615"},
	} {
		if got := key(tt.id); got != tt.want {
			t.Errorf("key(%d) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
