package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmroute/wasmroute/abi"
)

// snapshot is the state of an instance right after _initialize: its linear
// memory, as an image later instances map copy-on-write (memory_linux.go),
// and its mutable globals. Every later instance of the pool is a clone of
// it: instantiated without start functions over the image, with the
// globals set, then reseeded. A snapshot belongs to one pool, so to one
// module and environment.
type snapshot struct {
	image   *memoryImage
	size    uint64 // bytes of linear memory
	globals []savedGlobal
}

type savedGlobal struct {
	name  string
	value uint64
}

// cloneable reports whether a compiled module has what cloning needs (the
// build adds it, internal/build/clone.go), or why not.
func cloneable(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	for _, name := range []string{abi.ExportInitData, abi.ExportReseed} {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("the module has no %s export (build it with this version of wasmroute)", name)
		}
	}
	return nil
}

// takeSnapshot records mod, an instance that has just run _initialize and
// served nothing, as the pool's snapshot, and returns it, unless the pool
// has one or cannot have one (nil). A failure is logged once, and the pool
// serves fresh instances.
func (p *pool) takeSnapshot(mod api.Module) *snapshot {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	if p.snap != nil || p.noClone {
		return nil
	}
	key := p.sha
	if p.network {
		key += "+net"
	}
	snap, err := newSnapshot(mod, func(b []byte) *memoryImage { return p.h.e.baseImage(key, b) })
	if err != nil {
		p.disableClonesLocked(err)
		return nil
	}
	p.snap = snap
	p.h.log.Debug("snapshot taken; new instances are clones", slog.String("module", p.module),
		slog.Uint64("memory", snap.size), slog.Int("globals", len(snap.globals)))
	return snap
}

// newSnapshot reads mod's state; base returns the image of the module's
// first snapshot in the engine (nil: none), which the new image is stored
// over.
func newSnapshot(mod api.Module, base func([]byte) *memoryImage) (*snapshot, error) {
	im, ok := mod.(experimental.InternalModule)
	if !ok {
		return nil, errors.New("the runtime does not expose the module's globals")
	}
	snap := &snapshot{}
	for i := range im.NumGlobal() {
		name := abi.ExportGlobalPrefix + strconv.Itoa(i)
		g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			if _, mutable := im.Global(i).(api.MutableGlobal); mutable {
				return nil, fmt.Errorf("mutable global %d is not exported as %s", i, name)
			}
			continue
		}
		snap.globals = append(snap.globals, savedGlobal{name, g.Get()})
	}
	mem := mod.Memory()
	if mem == nil {
		return nil, errors.New("the module has no memory")
	}
	snap.size = uint64(mem.Size())
	b, ok := mem.Read(0, mem.Size())
	if !ok {
		return nil, errors.New("reading the instance's memory")
	}
	var err error
	if snap.image, err = newMemoryImage(b, base(b)); err != nil {
		return nil, fmt.Errorf("storing the memory image: %w", err)
	}
	return snap, nil
}

// snapshot returns the pool's snapshot, or nil while it has none.
func (p *pool) snapshot() *snapshot {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	return p.snap
}

// disableClones makes the pool serve fresh instances from now on, and logs
// why, once.
func (p *pool) disableClones(err error) {
	p.snapMu.Lock()
	defer p.snapMu.Unlock()
	p.disableClonesLocked(err)
}

func (p *pool) disableClonesLocked(err error) {
	if p.noClone {
		return
	}
	p.noClone = true
	p.h.log.Warn("instances cannot be cloned; starting each with _initialize", slog.String("module", p.module),
		slog.String("reason", err.Error()))
	if p.snap != nil {
		p.snap.image.close()
		p.snap = nil
	}
}

// restore makes a clone's state the snapshot's, once wazero has
// instantiated it over the image: the memory grows to the snapshot's size
// (the image already holds those pages), the globals take their values, and
// the guest reseeds its random state.
func (snap *snapshot) restore(ctx context.Context, mod api.Module) error {
	mem := mod.Memory()
	if have := uint64(mem.Size()); have < snap.size {
		if _, ok := mem.Grow(uint32((snap.size - have) / 65536)); !ok {
			return fmt.Errorf("growing the clone's memory to %d bytes", snap.size)
		}
	}
	for _, g := range snap.globals {
		mg, ok := mod.ExportedGlobal(g.name).(api.MutableGlobal)
		if !ok {
			return fmt.Errorf("the clone has no global %s", g.name)
		}
		mg.Set(g.value)
	}
	res, err := mod.ExportedFunction(abi.ExportReseed).Call(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", abi.ExportReseed, err)
	case res[0] != 0:
		return fmt.Errorf("%s returned %d: the guest cannot reseed its random state", abi.ExportReseed, res[0])
	}
	return nil
}

// pageSize is the unit a snapshot's image is stored and shared in.
const pageSize = 4096

// allZero reports whether b holds only zeros.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if *(*uint64)(unsafe.Pointer(&b[0])) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
