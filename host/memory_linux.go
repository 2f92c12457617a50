//go:build linux

package host

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// mmapAllocator backs each instance's linear memory with one private
// anonymous mapping of the memory's maximum size (or limit, when smaller).
// Growing the memory is then a bounds change rather than a copy (the Go
// runtime grows memory several times while a guest initialises), untouched
// pages cost nothing, and closing an instance returns its memory to the
// system at once. Growing past limit fails, and the guest traps.
//
// A clone's mapping starts with the snapshot's image mapped over it
// privately: the clone reads the snapshot's pages and gets its own copy of
// a page only when it writes to it, so an instance costs no copy to start,
// and only the pages it changes.
type mmapAllocator struct {
	limit uint64
	use   *memoryUse
	image *memoryImage // nil: a fresh instance
}

func (a mmapAllocator) Allocate(_, max uint64) experimental.LinearMemory {
	if a.limit > 0 && a.limit < max {
		max = a.limit
	}
	if max == 0 || max > 1<<32 || (a.image != nil && a.image.size > max) {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	if a.image != nil && a.image.size > 0 {
		_, err := unix.MmapPtr(int(a.image.f.Fd()), 0, unsafe.Pointer(&b[0]), uintptr(a.image.size),
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED)
		if err != nil {
			_ = syscall.Munmap(b)
			return nil
		}
	}
	return &mmapMemory{buf: b, use: a.use}
}

// memoryImage is a snapshot's linear memory, in a memfd that clones map.
type memoryImage struct {
	f    *os.File
	size uint64
}

func newMemoryImage(b []byte) (*memoryImage, error) {
	fd, err := unix.MemfdCreate("wasmroute-snapshot", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "wasmroute-snapshot")
	// Pages of zeros stay holes, which cost no memory and read as zeros:
	// much of a Go guest's memory after init is heap it has not used yet.
	err = f.Truncate(int64(len(b)))
	for off := 0; off < len(b) && err == nil; off += pageSize {
		page := b[off:min(off+pageSize, len(b))]
		if !allZero(page) {
			_, err = f.WriteAt(page, int64(off))
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &memoryImage{f: f, size: uint64(len(b))}, nil
}

// close releases the image; clones that map it keep their mappings.
func (im *memoryImage) close() { im.f.Close() }

type mmapMemory struct {
	buf []byte
	use *memoryUse
}

func (m *mmapMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) || !m.use.resize(size) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *mmapMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
		m.use.free()
	}
}

// memoryContext returns ctx carrying the allocator for an instance whose
// linear memory may grow to limit bytes (0: the runtime's limit), within
// the budget use accounts to (nil: none), and starts as image (nil: zeroes).
func memoryContext(ctx context.Context, limit uint64, use *memoryUse, image *memoryImage) context.Context {
	return experimental.WithMemoryAllocator(ctx, mmapAllocator{limit: limit, use: use, image: image})
}

// memoryAllocator is the allocator memoryContext gives, with no budget.
func memoryAllocator(limit uint64, image *memoryImage) experimental.MemoryAllocator {
	return mmapAllocator{limit: limit, image: image}
}

// defaultMemoryBudget is half the memory the process may use: the
// machine's, or its cgroup's limit when lower.
func defaultMemoryBudget() uint64 {
	total := uint64(4 << 30)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					total = kb << 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && limit < total {
			total = limit
		}
	}
	return total / 2
}

// pageFaults is how many minor page faults the process has taken.
func pageFaults() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}
