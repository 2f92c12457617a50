//go:build !linux

package host

import (
	"context"

	"github.com/tetratelabs/wazero/experimental"
)

// sliceAllocator keeps linear memory in a Go slice, like wazero's own
// allocator, but refuses to grow it past limit: the guest then traps.
// A clone's slice starts as a copy of the snapshot's image.
type sliceAllocator struct {
	limit uint64
	use   *memoryUse
	image *memoryImage // nil: a fresh instance
}

func (a sliceAllocator) Allocate(capacity, maxSize uint64) experimental.LinearMemory {
	if a.limit > 0 && a.limit < maxSize {
		maxSize = a.limit
	}
	if a.image == nil {
		return &sliceMemory{max: maxSize, buf: make([]byte, 0, min(capacity, maxSize)), use: a.use}
	}
	if uint64(len(a.image.data)) > maxSize {
		return nil
	}
	buf := make([]byte, len(a.image.data), max(uint64(len(a.image.data)), min(capacity, maxSize)))
	copy(buf, a.image.data)
	return &sliceMemory{max: maxSize, buf: buf[:0], use: a.use}
}

// memoryImage is a snapshot's linear memory, which clones copy.
type memoryImage struct {
	data []byte
	size uint64
}

// newMemoryImage stores b; off Linux images share nothing (base is
// ignored).
func newMemoryImage(b []byte, base *memoryImage) (*memoryImage, error) {
	return &memoryImage{data: append([]byte(nil), b...), size: uint64(len(b))}, nil
}

// newBaseImage stores b as the base image of a module.
func newBaseImage(b []byte) (*memoryImage, error) { return newMemoryImage(b, nil) }

func (im *memoryImage) close() {}

type sliceMemory struct {
	max uint64
	buf []byte
	use *memoryUse
}

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if size > m.max || !m.use.resize(size) {
		return nil
	}
	if size > uint64(cap(m.buf)) {
		grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.max))
		copy(grown, m.buf)
		m.buf = grown
	}
	m.buf = m.buf[:size]
	return m.buf
}

func (m *sliceMemory) Free() {
	m.buf = nil
	m.use.free()
}

// memoryContext returns ctx carrying the allocator for instances whose
// linear memory may grow to limit bytes (0: the runtime's limit).
func memoryContext(ctx context.Context, limit uint64, use *memoryUse, image *memoryImage) context.Context {
	return experimental.WithMemoryAllocator(ctx, sliceAllocator{limit: limit, use: use, image: image})
}

// memoryAllocator is the allocator memoryContext gives, with no budget.
func memoryAllocator(limit uint64, image *memoryImage) experimental.MemoryAllocator {
	return sliceAllocator{limit: limit, image: image}
}

// defaultMemoryBudget is the instance memory budget where the host cannot
// read the machine's memory.
func defaultMemoryBudget() uint64 { return 4 << 30 }

// pageFaults is not counted off Linux.
func pageFaults() int64 { return 0 }
