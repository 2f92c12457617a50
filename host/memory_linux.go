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
	if a.image != nil && !a.image.mapInto(b) {
		_ = syscall.Munmap(b)
		return nil
	}
	return &mmapMemory{buf: b, use: a.use}
}

// memoryImage is a snapshot's linear memory, in a memfd that clones map.
// An app's snapshot usually differs from another app's snapshot of the
// same module in a few dozen pages (their environments differ), so the
// engine keeps one base image per module, and an app's image holds only
// the runs of pages that differ from it, mapped over the base.
type memoryImage struct {
	f    *os.File
	size uint64
	// base, when set, holds every page outside runs.
	base *memoryImage
	runs []pageRun
}

// pageRun is a run of pages, in bytes.
type pageRun struct{ off, n uint64 }

// maxOverlayRuns is the most runs an image over a base may have, since a
// clone maps each; an image that differs more holds all its pages.
const maxOverlayRuns = 32

// overlayGap is how many identical pages between two differing ones are
// stored rather than mapped from the base, to keep the runs few.
const overlayGap = 8

// newMemoryImage stores b, over base if base is not nil and b differs
// from it in few runs of pages.
func newMemoryImage(b []byte, base *memoryImage) (*memoryImage, error) {
	if base != nil {
		view, err := base.mapView()
		if err != nil {
			return nil, err
		}
		runs := diffRuns(view, b)
		if len(view) > 0 {
			_ = syscall.Munmap(view)
		}
		if len(runs) <= maxOverlayRuns {
			f, err := memfdOf(b, runs)
			if err != nil {
				return nil, err
			}
			return &memoryImage{f: f, size: uint64(len(b)), base: base, runs: runs}, nil
		}
	}
	f, err := memfdOf(b, []pageRun{{0, uint64(len(b))}})
	if err != nil {
		return nil, err
	}
	return &memoryImage{f: f, size: uint64(len(b))}, nil
}

// newBaseImage stores b as the base image of a module.
func newBaseImage(b []byte) (*memoryImage, error) { return newMemoryImage(b, nil) }

// mapView maps the image read-only, to compare another with; the caller
// unmaps it. It is not kept: its pages would count in the process's RSS.
func (im *memoryImage) mapView() ([]byte, error) {
	if im.size == 0 {
		return nil, nil
	}
	return syscall.Mmap(int(im.f.Fd()), 0, int(im.size), syscall.PROT_READ, syscall.MAP_SHARED)
}

// diffRuns returns the runs of pages where b differs from base (pages past
// the end of base differ unless they are zeros), joining runs less than
// overlayGap pages apart.
func diffRuns(base, b []byte) []pageRun {
	var runs []pageRun
	for off := 0; off < len(b); off += pageSize {
		page := b[off:min(off+pageSize, len(b))]
		var same bool
		if off+len(page) <= len(base) {
			same = string(page) == string(base[off:off+len(page)])
		} else {
			same = allZero(page)
		}
		if same {
			continue
		}
		if n := len(runs); n > 0 && uint64(off) <= runs[n-1].off+runs[n-1].n+overlayGap*pageSize {
			runs[n-1].n = uint64(off+len(page)) - runs[n-1].off
			continue
		}
		runs = append(runs, pageRun{uint64(off), uint64(len(page))})
	}
	return runs
}

// memfdOf writes the non-zero pages of b within runs to a new memfd of
// b's size. Pages of zeros stay holes, which cost no memory and read as
// zeros: much of a Go guest's memory after init is heap it has not used.
func memfdOf(b []byte, runs []pageRun) (*os.File, error) {
	fd, err := unix.MemfdCreate("wasmroute-snapshot", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "wasmroute-snapshot")
	err = f.Truncate(int64(len(b)))
	for _, r := range runs {
		for off := r.off; off < r.off+r.n && err == nil; off += pageSize {
			page := b[off:min(off+pageSize, r.off+r.n)]
			if !allZero(page) {
				_, err = f.WriteAt(page, int64(off))
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// mapInto maps the image privately over the start of b: the base, then
// the image's own runs over it.
func (im *memoryImage) mapInto(b []byte) bool {
	mapRange := func(f *os.File, off, n uint64) bool {
		if n == 0 {
			return true
		}
		_, err := unix.MmapPtr(int(f.Fd()), int64(off), unsafe.Pointer(&b[off]), uintptr(n),
			syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED)
		return err == nil
	}
	if im.base == nil {
		return mapRange(im.f, 0, im.size)
	}
	if !mapRange(im.base.f, 0, min(im.base.size, im.size)) {
		return false
	}
	for _, r := range im.runs {
		if !mapRange(im.f, r.off, r.n) {
			return false
		}
	}
	return true
}

// close releases the image; clones that map it keep their mappings. A
// base image stays with the engine.
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
