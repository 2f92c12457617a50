package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// emptyModule is the smallest valid WebAssembly module.
var emptyModule = []byte("\x00asm\x01\x00\x00\x00")

// TestCompiledModulesAreShared checks the engine's compiled modules: one
// per digest and runtime, compiled once for all its users, closed with the
// last, and a failure leaves nothing behind.
func TestCompiledModulesAreShared(t *testing.T) {
	e, err := NewEngine(EngineOptions{CacheDir: "off", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	reads := 0
	read := func() ([]byte, error) { reads++; return emptyModule, nil }
	tests := []struct {
		name      string
		step      func() error
		reads     int // reads of the module so far
		instances int // entries in the engine's table
	}{
		{"first user compiles", func() error { _, err := e.compiled("aa", false, read); return err }, 1, 1},
		{"second user shares", func() error { _, err := e.compiled("aa", false, read); return err }, 1, 1},
		{"another digest compiles", func() error { _, err := e.compiled("bb", false, read); return err }, 2, 2},
		{"one user leaves", func() error { e.release("aa", false); return nil }, 2, 2},
		{"the last user closes it", func() error { e.release("aa", false); return nil }, 2, 1},
		{"a new user compiles again", func() error { _, err := e.compiled("aa", false, read); return err }, 3, 2},
		{"a failure leaves no entry", func() error {
			_, err := e.compiled("cc", false, func() ([]byte, error) { return nil, errors.New("gone") })
			if err == nil {
				return errors.New("no error")
			}
			return nil
		}, 3, 2},
		{"garbage does not compile", func() error {
			_, err := e.compiled("dd", false, func() ([]byte, error) { return []byte("not wasm"), nil })
			if err == nil {
				return errors.New("no error")
			}
			return nil
		}, 3, 2},
	}
	for _, tt := range tests {
		if err := tt.step(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		e.modMu.Lock()
		n := len(e.modules)
		e.modMu.Unlock()
		if reads != tt.reads || n != tt.instances {
			t.Fatalf("%s: %d reads, %d compiled modules; want %d, %d", tt.name, reads, n, tt.reads, tt.instances)
		}
	}
}

// TestMemoryImage checks the snapshot's image and the memory of clones:
// each starts with the image, zero pages included, and what one clone
// writes neither the image nor another clone sees.
func TestMemoryImage(t *testing.T) {
	image := make([]byte, 5*pageSize+100)
	copy(image[pageSize:], "first")
	copy(image[4*pageSize+7:], "second")
	im, err := newMemoryImage(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.close()
	alloc := func() []byte {
		t.Helper()
		a := memoryAllocator(64<<20, im)
		mem := a.Allocate(0, 1<<30)
		if mem == nil {
			t.Fatal("no memory")
		}
		t.Cleanup(mem.Free)
		return mem.Reallocate(uint64(len(image)) + 2*pageSize)
	}
	one, two := alloc(), alloc()
	if !bytes.Equal(one[:len(image)], image) || !allZero(one[len(image):]) {
		t.Fatal("a clone does not start as the image")
	}
	copy(one[pageSize:], "FIRST")
	one[3*pageSize] = 1 // a page that is a hole in the image
	if !bytes.Equal(two[:len(image)], image) {
		t.Fatal("a clone saw another clone's writes")
	}
	three := alloc()
	if !bytes.Equal(three[:len(image)], image) {
		t.Fatal("the image changed")
	}
}

// TestMemoryImageOverBase checks images stored over a base image: a clone
// of each starts with exactly its own memory, whether it differs from the
// base in a few pages, is longer, or differs everywhere.
func TestMemoryImageOverBase(t *testing.T) {
	base := make([]byte, 64*pageSize)
	for i := range base {
		base[i] = byte(i / pageSize)
	}
	baseImage, err := newBaseImage(base)
	if err != nil {
		t.Fatal(err)
	}
	defer baseImage.close()
	changed := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), base...)) }
	tests := []struct {
		name string
		mem  []byte
	}{
		{"the same", base},
		{"a few pages differ", changed(func(b []byte) []byte {
			b[3*pageSize] = 0xff
			copy(b[40*pageSize:], "changed")
			clear(b[50*pageSize : 51*pageSize]) // now zeros, over a non-zero base page
			return b
		})},
		{"longer", changed(func(b []byte) []byte {
			return append(b, append(make([]byte, pageSize), []byte("tail")...)...)
		})},
		{"shorter", base[:10*pageSize]},
		{"different everywhere", changed(func(b []byte) []byte {
			for i := 0; i < len(b); i += 2 * pageSize {
				b[i] ^= 1
			}
			return b
		})},
	}
	for _, tt := range tests {
		im, err := newMemoryImage(tt.mem, baseImage)
		if err != nil {
			t.Fatal(err)
		}
		mem := memoryAllocator(64<<20, im).Allocate(0, 1<<30)
		if mem == nil {
			t.Fatalf("%s: no memory", tt.name)
		}
		got := mem.Reallocate(uint64(len(tt.mem)) + pageSize)
		if !bytes.Equal(got[:len(tt.mem)], tt.mem) || !allZero(got[len(tt.mem):]) {
			t.Errorf("%s: a clone does not start as its image", tt.name)
		}
		mem.Free()
		im.close()
	}
}
