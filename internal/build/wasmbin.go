package build

import (
	"encoding/binary"
	"errors"
)

// The helpers here read and write WebAssembly binaries at the section level,
// for the two rewrites the build makes: merging data segments and adding the
// interrupt check.

// section is one section of a module: its id and its contents.
type section struct {
	id   byte
	body []byte
}

var errUnsupported = errors.New("module layout not supported for this rewrite")

// parseSections splits a module into its sections.
func parseSections(bin []byte) ([]section, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, errUnsupported
	}
	var secs []section
	for i := 8; i < len(bin); {
		id := bin[i]
		size, n := binary.Uvarint(bin[i+1:])
		if n <= 0 || uint64(len(bin)-i-1-n) < size {
			return nil, errUnsupported
		}
		start := i + 1 + n
		secs = append(secs, section{id, bin[start : start+int(size)]})
		i = start + int(size)
	}
	return secs, nil
}

// encodeSections writes a module: the 8-byte header of orig, then secs.
func encodeSections(orig []byte, secs []section) []byte {
	out := append([]byte(nil), orig[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out
}

// findSection returns the index of the section with id, or -1.
func findSection(secs []section, id byte) int {
	for i, s := range secs {
		if s.id == id {
			return i
		}
	}
	return -1
}

// readSignedLEB decodes WebAssembly's signed LEB128 at the start of b and
// returns the value and the bytes it took, or n <= 0 if it is malformed.
func readSignedLEB(b []byte) (v int64, n int) {
	var shift uint
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, -1
}

func appendSignedLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
