package build

import (
	"encoding/binary"
	"strconv"

	"github.com/wasmroute/wasmroute/abi"
)

// Section ids the clone rewrite touches, beside those of the other rewrites.
const (
	sectionType     = 1
	sectionFunction = 3
	sectionExport   = 7
	sectionElement  = 9
)

// prepareClones rewrites a module so that the host can clone an initialised
// instance of it:
//
//   - The active data segments become passive, and a new exported function,
//     abi.ExportInitData, copies them into memory and drops them. wazero
//     copies active segments into every new instance, which would overwrite
//     a clone's memory (the snapshot); a fresh instance calls the function
//     before _initialize instead.
//   - Every mutable global is exported as abi.ExportGlobalPrefix + index, so
//     the host can read them after _initialize and set them in a clone
//     (wazero sets only exported globals).
//
// It fails on layouts it does not know (active segments of another memory,
// non-constant offsets, an imported global), and the build then keeps the
// module as it was: the host serves it from fresh instances.
func prepareClones(bin []byte) ([]byte, error) {
	secs, err := parseSections(bin)
	if err != nil {
		return nil, err
	}
	imp, err := scanImports(secs)
	if err != nil {
		return nil, err
	}
	if imp.globals > 0 {
		return nil, errUnsupported
	}
	ti, fi, ei, ci, di := findSection(secs, sectionType), findSection(secs, sectionFunction),
		findSection(secs, sectionExport), findSection(secs, sectionCode), findSection(secs, sectionData)
	gi := findSection(secs, sectionGlobal)
	if ti < 0 || fi < 0 || ei < 0 || ci < 0 || di < 0 || gi < 0 || findSection(secs, sectionDataCount) >= 0 {
		return nil, errUnsupported
	}
	segs, err := parseDataSection(secs[di].body)
	if err != nil {
		return nil, err
	}
	mutable, err := mutableGlobals(secs[gi].body)
	if err != nil {
		return nil, err
	}

	// A type () -> () for the new function.
	types, n := binary.Uvarint(secs[ti].body)
	if n <= 0 {
		return nil, errUnsupported
	}
	typeIdx := types
	secs[ti].body = concat(binary.AppendUvarint(nil, types+1), secs[ti].body[n:], []byte{0x60, 0x00, 0x00})

	// The function: its type in the function section, its body in the code
	// section.
	funcs, n := binary.Uvarint(secs[fi].body)
	if n <= 0 {
		return nil, errUnsupported
	}
	funcIdx := uint64(imp.funcs) + funcs
	secs[fi].body = concat(binary.AppendUvarint(nil, funcs+1), secs[fi].body[n:], binary.AppendUvarint(nil, typeIdx))
	var body []byte
	body = append(body, 0x00) // no locals
	for i, s := range segs {
		// i32.const offset; i32.const 0; i32.const len; memory.init i 0; data.drop i
		body = appendSignedLEB(append(body, 0x41), int64(s.offset))
		body = append(body, 0x41, 0x00, 0x41)
		body = appendSignedLEB(body, int64(len(s.data)))
		body = binary.AppendUvarint(append(body, 0xfc, 0x08), uint64(i))
		body = append(body, 0x00)
		body = binary.AppendUvarint(append(body, 0xfc, 0x09), uint64(i))
	}
	body = append(body, 0x0b)
	codes, n := binary.Uvarint(secs[ci].body)
	if n <= 0 {
		return nil, errUnsupported
	}
	secs[ci].body = concat(binary.AppendUvarint(nil, codes+1), secs[ci].body[n:], binary.AppendUvarint(nil, uint64(len(body))), body)

	// The exports.
	exports, n := binary.Uvarint(secs[ei].body)
	if n <= 0 {
		return nil, errUnsupported
	}
	exp := concat(binary.AppendUvarint(nil, exports+1+uint64(len(mutable))), secs[ei].body[n:])
	exp = appendName(exp, abi.ExportInitData)
	exp = binary.AppendUvarint(append(exp, 0x00), funcIdx)
	for _, g := range mutable {
		exp = appendName(exp, abi.ExportGlobalPrefix+strconv.Itoa(int(g)))
		exp = binary.AppendUvarint(append(exp, 0x03), uint64(g))
	}
	secs[ei].body = exp

	// Passive segments, and the data count section memory.init needs,
	// which goes before the code section.
	data := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		data = binary.AppendUvarint(append(data, 0x01), uint64(len(s.data)))
		data = append(data, s.data...)
	}
	secs[di].body = data
	count := section{sectionDataCount, binary.AppendUvarint(nil, uint64(len(segs)))}
	secs = append(secs[:ci], append([]section{count}, secs[ci:]...)...)
	return encodeSections(bin, secs), nil
}

// mutableGlobals returns the indices of the mutable globals a global section
// defines (no global is imported).
func mutableGlobals(b []byte) ([]uint32, error) {
	r := reader{b: b}
	n := r.u32()
	var out []uint32
	for i := uint32(0); i < n && r.ok(); i++ {
		r.byte() // value type
		if r.byte() == 0x01 {
			out = append(out, i)
		}
		// A constant expression: one instruction, then end.
		switch r.byte() {
		case 0x41, 0x42: // i32.const, i64.const
			r.sleb()
		case 0x43: // f32.const
			r.skip(4)
		case 0x44: // f64.const
			r.skip(8)
		case 0x23: // global.get
			r.u32()
		default:
			return nil, errUnsupported
		}
		if r.byte() != 0x0b {
			return nil, errUnsupported
		}
	}
	if !r.ok() || len(r.b) != 0 {
		return nil, errUnsupported
	}
	return out, nil
}

// concat joins parts into a new slice. Section bodies are views into the
// module: appending to one would write over the next.
func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func appendName(b []byte, name string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(name))), name...)
}
