package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasmroute/wasmroute/host/cache"
)

// EngineOptions configure an Engine: what belongs to the process rather
// than to one app. The zero value is ready to use.
type EngineOptions struct {
	// Logger receives the engine's own log lines. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// CacheDir is where compiled modules are cached between runs. Defaults
	// to wasmroute/wazero under os.UserCacheDir. "off" disables the cache.
	CacheDir string
	// MemoryLimitPages caps every instance's linear memory, in 64 KiB
	// pages: the most an app's memory_limit can give. A guest that needs
	// more traps (500). Defaults to 2048 (128 MiB).
	MemoryLimitPages uint32
	// CloseOnContextDone stops a guest at its time limit through wazero's
	// context check instead of the countdown `wasmroute build` adds to
	// every loop, for modules built some other way (RATIONALE.md, "Time
	// limits"). It makes loop-heavy guests about twice as slow.
	CloseOnContextDone bool
	// GuestConcurrency is how many guest calls, of all apps, compute at
	// once; calls waiting for the client, the store, a sleep or the
	// network do not count. Defaults to the number of CPUs; negative means
	// no limit. CloseOnContextDone turns the limit off.
	GuestConcurrency int
	// MemoryBudget caps the linear memory of all instances of all apps
	// together, in bytes. An instance that cannot start or grow within it
	// fails its request with 503 and Retry-After; instances already running
	// keep what they have. Defaults to half the memory of the machine (or
	// of the process's cgroup, when lower).
	MemoryBudget uint64
	// MaxGuestSockets caps the file descriptors all guests hold at once:
	// their sockets, and 5 for each instance of a module that uses the
	// network. Defaults to half the process's open-file limit.
	MaxGuestSockets int
	// OnCompile, if set, is called after each compilation to machine code
	// (from the cache or not), and OnInstance after each instance starts,
	// a clone of a snapshot or fresh: for metrics.
	OnCompile  func(took time.Duration)
	OnInstance func(clone bool, took time.Duration)
	// Cache, if set, is the response cache of every app: GET responses of
	// routes with Revalidate or force-static, and responses with
	// s-maxage (package cache). nil: nothing is cached.
	Cache cache.Store
	// MaxCacheEntryBytes caps the body of a response the cache keeps; a
	// larger one is served and not kept. Defaults to 8 MiB.
	MaxCacheEntryBytes int64
}

func (o *EngineOptions) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MemoryLimitPages == 0 {
		o.MemoryLimitPages = 2048
	}
	if o.MemoryBudget == 0 {
		o.MemoryBudget = defaultMemoryBudget()
	}
	if o.MaxGuestSockets <= 0 {
		o.MaxGuestSockets = defaultGuestSockets()
	}
}

// Engine is what a process shares between the apps it serves: the wazero
// runtimes, one compiled module per digest (two apps built from the same
// source share it), the CPU slots guest calls compute on, and the budgets
// for instance memory and guest sockets. Load puts an app in it; New makes
// an engine for one app.
type Engine struct {
	opts EngineOptions
	log  *slog.Logger
	rt   wazero.Runtime
	// cache is the on-disk compilation cache, nil when off.
	cache wazero.CompilationCache
	// rtConfig makes both runtimes: rt, and the network runtime (net) for
	// modules that use sockets, made on first use.
	rtConfig wazero.RuntimeConfig
	cpu      *cpuSlots // nil: no limit
	netOnce  sync.Once
	net      *netRuntime
	netErr   error
	// interp is the interpreter runtime for Options.FastStart, made on
	// first use.
	interpOnce sync.Once
	interp     wazero.Runtime
	interpErr  error

	// life guards the runtimes: compiling and instantiating hold it for
	// reading, Close for writing, so Close never pulls a runtime from
	// under a compilation.
	life   sync.RWMutex
	closed bool
	// warmSem bounds the compilations and first instances running in the
	// background at once, for all apps.
	warmSem chan struct{}
	// guestFDs counts the descriptors guests hold (MaxGuestSockets), memory
	// the linear memory of all instances (MemoryBudget).
	guestFDs, memory budget

	// modMu guards modules, the compiled modules by runtime and digest;
	// hosts, the apps loaded; and bases, the first snapshot image of each
	// module, which later snapshots of it are stored over.
	modMu   sync.Mutex
	modules map[string]*sharedModule
	hosts   map[*Host]bool
	bases   map[string]*memoryImage
}

// sharedModule is one compiled module and the pools that use it.
type sharedModule struct {
	mu   sync.Mutex // held while it compiles
	cm   wazero.CompiledModule
	refs int
}

// NewEngine makes an engine. Close it after the apps loaded into it.
func NewEngine(opts EngineOptions) (*Engine, error) {
	opts.setDefaults()
	e := &Engine{opts: opts, log: opts.Logger, warmSem: make(chan struct{}, max(1, runtime.NumCPU()-1)),
		modules: map[string]*sharedModule{}, hosts: map[*Host]bool{}, bases: map[string]*memoryImage{}}
	if n := opts.GuestConcurrency; n >= 0 && !opts.CloseOnContextDone {
		if n == 0 {
			n = runtime.NumCPU()
		}
		e.cpu = newCPUSlots(n)
	}
	e.guestFDs.limit = int64(opts.MaxGuestSockets)
	e.memory.limit = int64(min(opts.MemoryBudget, 1<<62))
	cfg := wazero.NewRuntimeConfigCompiler().
		WithMemoryLimitPages(opts.MemoryLimitPages).
		WithCloseOnContextDone(opts.CloseOnContextDone)
	if opts.CacheDir != "off" {
		cacheDir := opts.CacheDir
		if cacheDir == "" {
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			cacheDir = filepath.Join(base, "wasmroute", "wazero")
		}
		cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w", cacheDir, err)
		}
		e.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	ctx := context.Background()
	e.rtConfig = cfg
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := instantiateImports(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, err
	}
	return e, nil
}

// withRuntime runs fn while the engine's runtimes are open.
func (e *Engine) withRuntime(fn func() error) error {
	e.life.RLock()
	defer e.life.RUnlock()
	if e.closed {
		return errClosed
	}
	return fn()
}

// compiled returns the module with the given digest compiled in the
// runtime for network modules or the main one, compiling it from read on
// first use; later users share it. Each successful call must be paired
// with a release.
func (e *Engine) compiled(sha string, network bool, read func() ([]byte, error)) (wazero.CompiledModule, error) {
	key := sha
	if network {
		key += "+net"
	}
	e.modMu.Lock()
	sm := e.modules[key]
	if sm == nil {
		sm = &sharedModule{}
		e.modules[key] = sm
	}
	sm.refs++
	e.modMu.Unlock()

	sm.mu.Lock()
	if sm.cm == nil {
		cm, err := e.compile(network, read)
		if err != nil {
			sm.mu.Unlock()
			e.release(sha, network)
			return nil, err
		}
		sm.cm = cm
	}
	cm := sm.cm
	sm.mu.Unlock()
	return cm, nil
}

func (e *Engine) compile(network bool, read func() ([]byte, error)) (wazero.CompiledModule, error) {
	bin, err := read()
	if err != nil {
		return nil, err
	}
	var cm wazero.CompiledModule
	err = e.withRuntime(func() error {
		rt := e.rt
		if network {
			n, err := e.network()
			if err != nil {
				return err
			}
			rt = n.rt
		}
		// One compilation uses every core: the first request waits for it.
		ctx := experimental.WithCompilationWorkers(context.Background(), runtime.NumCPU())
		start := time.Now()
		cm, err = rt.CompileModule(ctx, bin)
		if e.opts.OnCompile != nil && err == nil {
			e.opts.OnCompile(time.Since(start))
		}
		if took := time.Since(start); took > 100*time.Millisecond {
			// Not from the cache: say so, since the first request waited.
			// Compiling left hundreds of MB of garbage, which the Go
			// runtime would keep for minutes.
			e.log.Info("compiled a module to machine code (cached for the next start)", slog.Duration("took", took),
				slog.Int("bytes", len(bin)))
			debug.FreeOSMemory()
		}
		return err
	})
	return cm, err
}

// release gives back a module compiled returned; the last user closes it.
func (e *Engine) release(sha string, network bool) {
	key := sha
	if network {
		key += "+net"
	}
	e.modMu.Lock()
	sm := e.modules[key]
	if sm == nil {
		e.modMu.Unlock()
		return
	}
	sm.refs--
	last := sm.refs == 0
	if last {
		delete(e.modules, key)
	}
	e.modMu.Unlock()
	if last {
		sm.mu.Lock()
		if sm.cm != nil {
			sm.cm.Close(context.Background())
			sm.cm = nil
		}
		sm.mu.Unlock()
	}
}

// baseImage returns the base snapshot image of the module with key, made
// from b if it has none, or nil if it cannot be made.
func (e *Engine) baseImage(key string, b []byte) *memoryImage {
	e.modMu.Lock()
	defer e.modMu.Unlock()
	if im := e.bases[key]; im != nil {
		return im
	}
	im, err := newBaseImage(b)
	if err != nil {
		e.log.Warn("snapshot images of this module are not shared", slog.String("module", key), slog.String("error", err.Error()))
		return nil
	}
	e.bases[key] = im
	return im
}

// Load loads the bundle in dir (an app's .wasmroute directory) into the
// engine, and returns the Host serving it. opts configures the app; its
// engine fields (CacheDir, MemoryLimitPages, CloseOnContextDone,
// GuestConcurrency, MemoryBudget, MaxGuestSockets) are the engine's and
// are ignored here. Close the Host to unload the app.
func (e *Engine) Load(dir string, opts Options) (*Host, error) {
	e.life.RLock()
	closed := e.closed
	e.life.RUnlock()
	if closed {
		return nil, errClosed
	}
	opts.engineOptions(e.opts)
	h, err := load(e, dir, opts)
	if err != nil {
		return nil, err
	}
	e.modMu.Lock()
	e.hosts[h] = true
	e.modMu.Unlock()
	return h, nil
}

// Close closes the apps still loaded, then the runtimes and the cache.
func (e *Engine) Close(ctx context.Context) error {
	e.modMu.Lock()
	hosts := make([]*Host, 0, len(e.hosts))
	for h := range e.hosts {
		hosts = append(hosts, h)
	}
	e.modMu.Unlock()
	var err error
	for _, h := range hosts {
		err = errors.Join(err, h.unload(ctx))
	}
	e.life.Lock()
	e.closed = true
	e.life.Unlock()
	e.modMu.Lock()
	for key, im := range e.bases {
		im.close()
		delete(e.bases, key)
	}
	e.modMu.Unlock()
	if e.rt != nil {
		err = errors.Join(err, e.rt.Close(ctx))
	}
	if e.net != nil {
		err = errors.Join(err, e.net.rt.Close(ctx))
	}
	if e.interp != nil {
		err = errors.Join(err, e.interp.Close(ctx))
	}
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}
