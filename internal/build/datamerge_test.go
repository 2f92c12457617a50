package build

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/tetratelabs/wazero"
)

// moduleWithData builds a module with one exported memory page and the given
// active data segments, in order.
func moduleWithData(segs []dataSegment) []byte {
	section := func(out []byte, id byte, body []byte) []byte {
		return append(binary.AppendUvarint(append(out, id), uint64(len(body))), body...)
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = section(out, 5, []byte{1, 0x00, 1})                            // memory: min 1 page
	out = section(out, 7, []byte{1, 3, 'm', 'e', 'm', 0x02, 0})          // export "mem"
	out = section(out, 12, binary.AppendUvarint(nil, uint64(len(segs)))) // data count
	return section(out, 11, encodeDataSection(segs))
}

func memoryAfterInstantiate(t *testing.T, bin []byte) []byte {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	b, _ := mod.ExportedMemory("mem").Read(0, 65536)
	return append([]byte(nil), b...)
}

func TestMergeDataSegments(t *testing.T) {
	tests := []struct {
		name      string
		segs      []dataSegment
		wantCount int // segments after merging; -1: left unchanged
	}{
		{"adjacent", []dataSegment{{0, []byte("ab")}, {2, []byte("cd")}, {4, []byte("ef")}}, 1},
		{"out of order with small gaps", []dataSegment{{300, []byte("z")}, {10, []byte("hello")}, {100, []byte("world")}}, 1},
		{"large gap kept apart", []dataSegment{{0, []byte("a")}, {maxMergeGap + 100, []byte("b")}}, 2},
		{"overlap left alone", []dataSegment{{0, []byte("abcd")}, {2, []byte("XY")}}, -1},
		{"high offsets", []dataSegment{{60000, []byte("end")}, {1 << 6, []byte("x")}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := moduleWithData(tt.segs)
			merged := mergeDataSegments(orig)
			if tt.wantCount < 0 {
				if !bytes.Equal(merged, orig) {
					t.Fatal("module with overlapping segments was rewritten")
				}
				return
			}
			segs, err := parseDataSection(dataSectionOf(t, merged))
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != tt.wantCount {
				t.Fatalf("%d segments after merging, want %d", len(segs), tt.wantCount)
			}
			if !bytes.Equal(memoryAfterInstantiate(t, merged), memoryAfterInstantiate(t, orig)) {
				t.Fatal("memory differs after merging")
			}
		})
	}
	if got := mergeDataSegments([]byte("not wasm")); string(got) != "not wasm" {
		t.Fatal("non-module input changed")
	}
}

func dataSectionOf(t *testing.T, bin []byte) []byte {
	t.Helper()
	for i := 8; i < len(bin); {
		id := bin[i]
		size, n := binary.Uvarint(bin[i+1:])
		body := bin[i+1+n : i+1+n+int(size)]
		if id == sectionData {
			return body
		}
		i += 1 + n + int(size)
	}
	t.Fatal("no data section")
	return nil
}

func TestSignedLEB(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, -1, -64, -65, 1 << 20, 1<<31 - 1} {
		enc := appendSignedLEB(nil, v)
		got, n := readSignedLEB(enc)
		if got != v || n != len(enc) {
			t.Errorf("round trip %d: got %d (%d of %d bytes)", v, got, n, len(enc))
		}
	}
}

func TestAddInterrupt(t *testing.T) {
	// A module importing wasmroute.poll, with one global and a function
	// holding a loop.
	section := func(out []byte, id byte, body []byte) []byte {
		return append(binary.AppendUvarint(append(out, id), uint64(len(body))), body...)
	}
	mod := []byte("\x00asm\x01\x00\x00\x00")
	mod = section(mod, 1, []byte{1, 0x60, 0, 0})                                                                 // type () -> ()
	mod = section(mod, 2, append(append([]byte{1, 9}, "wasmroute"...), append([]byte{4}, "poll\x00\x00"...)...)) // import wasmroute.poll
	mod = section(mod, 3, []byte{1, 0})                                                                          // one function
	mod = section(mod, 6, []byte{1, 0x7f, 0x01, 0x41, 0x00, 0x0b})                                               // (mut i32) 0
	mod = section(mod, 7, append(append([]byte{1, 3}, "run"...), 0x00, 1))                                       // export "run"
	body := []byte{0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}                                                        // loop; br 0; end; end
	mod = section(mod, 10, append([]byte{1, byte(len(body))}, body...))
	out, err := addInterrupt(mod)
	if err != nil {
		t.Fatal(err)
	}
	// The rewritten module must validate and, run, reach the poll import.
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	polls := 0
	_, err = rt.NewHostModuleBuilder("wasmroute").NewFunctionBuilder().WithFunc(func() {
		polls++
		if polls == 3 {
			panic("stop")
		}
	}).Export("poll").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Instantiate(ctx, out)
	if err != nil {
		t.Fatalf("rewritten module does not instantiate: %v", err)
	}
	if _, err := m.ExportedFunction("run").Call(ctx); err == nil || polls != 3 {
		t.Fatalf("infinite loop: err %v after %d polls, want it stopped at the third", err, polls)
	}
	if _, err := addInterrupt([]byte("\x00asm\x01\x00\x00\x00")); err == nil {
		t.Fatal("module without the poll import accepted")
	}
}
