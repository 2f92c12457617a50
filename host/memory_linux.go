//go:build linux

package host

import (
	"context"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapAllocator backs each instance's linear memory with one private
// anonymous mapping of the memory's maximum size (or limit, when smaller).
// Growing the memory is then a bounds change rather than a copy (the Go
// runtime grows memory several times while a guest initialises), untouched
// pages cost nothing, and closing an instance returns its memory to the
// system at once. Growing past limit fails, and the guest traps.
type mmapAllocator struct{ limit uint64 }

func (a mmapAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	if a.limit > 0 && a.limit < max {
		max = a.limit
	}
	if max == 0 || max > 1<<32 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mmapMemory{buf: b}
}

type mmapMemory struct{ buf []byte }

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// memoryContext returns ctx carrying the allocator for instances whose
// linear memory may grow to limit bytes (0: the runtime's limit).
func memoryContext(ctx context.Context, limit uint64) context.Context {
	return experimental.WithMemoryAllocator(ctx, mmapAllocator{limit: limit})
}
