package build

import (
	"encoding/binary"
	"sort"
)

// Wasm section ids this file touches.
const (
	sectionData      = 11
	sectionDataCount = 12
)

// maxMergeGap is the largest run of zero bytes mergeDataSegments writes out
// to join two segments. Linear memory starts zeroed, so a gap costs only the
// copy; this keeps that copy small.
const maxMergeGap = 4 << 10

// mergeDataSegments rewrites a module so that adjacent active data segments
// become one. Go emits tens of thousands of small segments, and wazero
// applies each separately when it instantiates the module; merged, the same
// bytes are copied in a few large moves. The module's meaning does not
// change. A module this cannot rewrite safely (passive segments, offsets
// that are not constants, overlapping segments) is returned unchanged.
func mergeDataSegments(bin []byte) []byte {
	out, err := rewriteDataSegments(bin)
	if err != nil {
		return bin
	}
	return out
}

type dataSegment struct {
	offset uint32
	data   []byte
}

func rewriteDataSegments(bin []byte) ([]byte, error) {
	secs, err := parseSections(bin)
	if err != nil {
		return nil, err
	}
	dataIdx := findSection(secs, sectionData)
	if dataIdx < 0 {
		return nil, errUnsupported
	}
	segs, err := parseDataSection(secs[dataIdx].body)
	if err != nil {
		return nil, err
	}
	merged := mergeSegments(segs)
	if merged == nil {
		return nil, errUnsupported
	}
	secs[dataIdx].body = encodeDataSection(merged)
	if i := findSection(secs, sectionDataCount); i >= 0 {
		secs[i].body = binary.AppendUvarint(nil, uint64(len(merged)))
	}
	return encodeSections(bin, secs), nil
}

// parseDataSection reads active segments of memory 0 with i32.const offsets.
func parseDataSection(b []byte) ([]dataSegment, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errUnsupported
	}
	b = b[n:]
	segs := make([]dataSegment, 0, count)
	for i := uint64(0); i < count; i++ {
		// flags 0: active, memory 0, offset expression, bytes.
		if len(b) < 2 || b[0] != 0x00 || b[1] != 0x41 /* i32.const */ {
			return nil, errUnsupported
		}
		off, n := readSignedLEB(b[2:])
		if n <= 0 || 2+n >= len(b) || b[2+n] != 0x0b /* end */ || off < 0 {
			return nil, errUnsupported
		}
		b = b[3+n:]
		size, m := binary.Uvarint(b)
		if m <= 0 || size > uint64(len(b)-m) {
			return nil, errUnsupported
		}
		segs = append(segs, dataSegment{offset: uint32(off), data: b[m : m+int(size)]})
		b = b[m+int(size):]
	}
	if len(b) != 0 {
		return nil, errUnsupported
	}
	return segs, nil
}

// mergeSegments joins segments whose gaps are at most maxMergeGap. It returns
// nil if two segments overlap, since their order would then matter.
func mergeSegments(segs []dataSegment) []dataSegment {
	sorted := append([]dataSegment(nil), segs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].offset < sorted[j].offset })
	var out []dataSegment
	for _, s := range sorted {
		if len(out) > 0 {
			last := &out[len(out)-1]
			end := uint64(last.offset) + uint64(len(last.data))
			if uint64(s.offset) < end {
				return nil
			}
			if gap := uint64(s.offset) - end; gap <= maxMergeGap {
				last.data = append(last.data, make([]byte, gap)...)
				last.data = append(last.data, s.data...)
				continue
			}
		}
		out = append(out, dataSegment{offset: s.offset, data: append([]byte(nil), s.data...)})
	}
	return out
}

func encodeDataSection(segs []dataSegment) []byte {
	b := binary.AppendUvarint(nil, uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0x00, 0x41)
		b = appendSignedLEB(b, int64(s.offset))
		b = append(b, 0x0b)
		b = binary.AppendUvarint(b, uint64(len(s.data)))
		b = append(b, s.data...)
	}
	return b
}
