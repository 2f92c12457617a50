package build

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
)

// testModule writes a module with one exported memory, the globals given
// (each an i32, mutable or not, with its initial value), one function, and
// the given data section body (nil: none).
func testModule(globals []struct {
	mutable bool
	value   int32
}, data []byte, extra ...section) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	add := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	add(sectionType, []byte{1, 0x60, 0, 0})
	add(sectionFunction, []byte{1, 0})
	add(5, []byte{1, 0x00, 1}) // one memory, min 1 page
	g := binary.AppendUvarint(nil, uint64(len(globals)))
	for _, gl := range globals {
		mut := byte(0)
		if gl.mutable {
			mut = 1
		}
		g = appendSignedLEB(append(g, 0x7f, mut, 0x41), int64(gl.value))
		g = append(g, 0x0b)
	}
	add(sectionGlobal, g)
	exp := binary.AppendUvarint(nil, 2)
	exp = append(appendName(exp, "memory"), 0x02, 0)
	exp = append(appendName(exp, "f"), 0x00, 0)
	add(sectionExport, exp)
	for _, s := range extra {
		add(s.id, s.body)
	}
	add(sectionCode, []byte{1, 2, 0, 0x0b})
	if data != nil {
		add(sectionData, data)
	}
	return out
}

func TestPrepareClones(t *testing.T) {
	globals := []struct {
		mutable bool
		value   int32
	}{{true, 5}, {false, 7}, {true, 9}}
	data := encodeDataSection([]dataSegment{{offset: 16, data: []byte("hello")}, {offset: 100, data: []byte("world")}})
	bin, err := prepareClones(testModule(globals, data))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("the rewritten module does not compile: %v", err)
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	// Passive segments: nothing in memory until the init function runs.
	if b, _ := mod.Memory().Read(16, 5); string(b) != "\x00\x00\x00\x00\x00" {
		t.Fatalf("data applied at instantiation: %q", b)
	}
	if _, err := mod.ExportedFunction(abi.ExportInitData).Call(ctx); err != nil {
		t.Fatal(err)
	}
	for off, want := range map[uint32]string{16: "hello", 100: "world"} {
		if b, _ := mod.Memory().Read(off, 5); string(b) != want {
			t.Errorf("memory at %d = %q, want %q", off, b, want)
		}
	}
	// Mutable globals are exported by index, and settable; the constant is not.
	for name, want := range map[string]uint64{abi.ExportGlobalPrefix + "0": 5, abi.ExportGlobalPrefix + "2": 9} {
		g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok || g.Get() != want {
			t.Fatalf("global %s: %v", name, mod.ExportedGlobal(name))
		}
		g.Set(42)
	}
	if mod.ExportedGlobal(abi.ExportGlobalPrefix+"1") != nil {
		t.Error("an immutable global was exported")
	}
}

func TestPrepareClonesRefuses(t *testing.T) {
	plain := []struct {
		mutable bool
		value   int32
	}{{true, 1}}
	data := encodeDataSection([]dataSegment{{offset: 8, data: []byte("x")}})
	tests := []struct {
		name string
		bin  []byte
	}{
		{"no data section", testModule(plain, nil)},
		{"a data count section already", testModule(plain, data, section{sectionDataCount, []byte{1}})},
		{"passive segments", testModule(plain, []byte{1, 0x01, 1, 'x'})},
		{"not WebAssembly", []byte("#!/bin/sh")},
	}
	for _, tt := range tests {
		if _, err := prepareClones(tt.bin); !errors.Is(err, errUnsupported) {
			t.Errorf("%s: error %v, want errUnsupported", tt.name, err)
		}
	}
}
