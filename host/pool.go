package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/outbound"
)

// pool owns one compiled module of an app and its initialised instances,
// which serve every route of the module. At most max instances exist at
// once. Idle ones wait on a stack, so the most recently used serves next
// (its memory is the one in the caches) and the others stay idle long
// enough to be reaped.
type pool struct {
	h      *Host
	name   string // "module 1a2b3c4d5e6f", for logs and errors
	module string // module file, for errors
	sha    string
	env    []string // KEY=value, sorted
	// network is set for modules that import the socket functions; they
	// run on the network runtime, and may reach what allow names.
	network bool
	allow   outbound.Allowlist
	// memoryLimit caps each instance's linear memory in bytes (0: the
	// runtime's MemoryLimitPages).
	memoryLimit uint64

	// compileMu guards compiled, compileErr and the retry state; ready
	// says compiled is set, for the fast path.
	compileMu sync.Mutex
	ready     atomic.Bool
	compiled  wazero.CompiledModule
	// code is what new instances start from: the compiled module, or
	// while it compiles, with Options.FastStart, the same module on the
	// interpreter (fast.go). Instances of an older code are retired.
	code atomic.Pointer[code]
	// interp is the interpreter's module, kept until the pool closes, as
	// its instances may outlive the switch.
	interp     wazero.CompiledModule
	compileErr error
	closed     bool // the compiled module is closed for good (retired)
	// After a failure to compile or to start an instance, the pool tries
	// again no sooner than retryAt, and a goroutine retries in the
	// background until it succeeds (retry.go).
	retryAt  time.Time
	backoff  time.Duration
	retrying bool

	// mu guards the instances. live counts them, with the places reserved
	// for ones being made, up to max; idle is a stack, the most recently
	// used on top; waiters queue, first come first served, for an instance
	// or a place to make one (a nil instance) when live is at max.
	mu      sync.Mutex
	live    int
	max     int
	idle    []*instance
	waiters []chan *instance
	retired bool
	// routes are the patterns the module serves, for Stats.
	routes []string

	// snapMu guards snap and noClone: the snapshot clones start from, and
	// whether the pool gave cloning up. cloneErr, set when the module
	// compiles, says why it cannot be cloned at all.
	snapMu   sync.Mutex
	snap     *snapshot
	noClone  bool
	cloneErr error

	calls     atomic.Uint64 // guest calls started
	computing atomic.Int64  // calls holding a CPU slot
	discarded atomic.Uint64 // instances closed after a failure or for memory
}

func newPool(h *Host, mod bundle.Module, env []string, allow outbound.Allowlist, memoryLimit uint64, maxInstances int) *pool {
	return &pool{
		memoryLimit: memoryLimit,
		h:           h,
		name:        "module " + mod.SHA256[:12],
		module:      mod.File,
		sha:         mod.SHA256,
		env:         env,
		network:     mod.Network,
		allow:       allow,
		max:         maxInstances,
	}
}

// setRoutes records the patterns of the routes the module serves.
func (p *pool) setRoutes(patterns []string) {
	p.mu.Lock()
	p.routes = patterns
	p.mu.Unlock()
}

// key identifies what a pool's instances are made from: a reload keeps a
// pool only if its module and environment are unchanged.
func (p *pool) key() string {
	allow := make([]string, len(p.allow))
	for i, a := range p.allow {
		allow[i] = a.String()
	}
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d/%d", p.sha, strings.Join(p.env, "\x00"), strings.Join(allow, "\x00"),
		p.memoryLimit, p.max)
}

// runtime is the runtime the pool's module compiles and runs in.
func (p *pool) runtime() (wazero.Runtime, error) {
	if !p.network {
		return p.h.e.rt, nil
	}
	n, err := p.h.e.network()
	if err != nil {
		return nil, err
	}
	return n.rt, nil
}

// compile reads, verifies and compiles the module, once it succeeds. After
// a failure it returns that failure until the backoff has passed, then
// tries again: a module missing for a moment does not fail its route for
// good.
func (p *pool) compile() error {
	if p.ready.Load() {
		return nil
	}
	p.compileMu.Lock()
	defer p.compileMu.Unlock()
	switch {
	case p.closed:
		return errRetired
	case p.code.Load() != nil: // compiled, or served from the interpreter meanwhile
		return nil
	case p.compileErr != nil && time.Now().Before(p.retryAt):
		return p.compileErr
	}
	if p.h.opts.FastStart && !p.network {
		if served, err := p.compileFast(); served {
			return err
		}
	}
	var cm wazero.CompiledModule
	err := p.h.withApp(func() (err error) {
		cm, err = p.doCompile()
		return err
	})
	return p.compiledLocked(cm, err)
}

// compiledLocked takes the compiler's result: on success the pool serves
// cm; on failure it logs and schedules a retry. p.compileMu is held.
func (p *pool) compiledLocked(cm wazero.CompiledModule, err error) error {
	p.compileErr = err
	if err != nil {
		if !errors.Is(err, errClosed) {
			p.failedLocked("module cannot serve", err)
		}
		return err
	}
	p.compiled = cm
	p.checkCloneable(cm)
	p.setCode(cm, nil)
	p.backoff = 0
	p.ready.Store(true)
	return nil
}

// errRetired is what a retired pool's module gives new requests.
var errRetired = errors.New("route retired")

func (p *pool) doCompile() (wazero.CompiledModule, error) {
	read := func() ([]byte, error) {
		return bundle.ReadModule(p.h.dir, bundle.Module{File: p.module, SHA256: p.sha})
	}
	// Apps built from the same source share the compiled module.
	cm, err := p.h.e.compiled(p.sha, p.network, read)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", p.module, err)
	}
	if err := checkExports(cm); err != nil {
		p.h.e.release(p.sha, p.network)
		return nil, fmt.Errorf("module %s: %w", p.module, err)
	}
	return cm, nil
}

// checkCloneable records whether instances of cm can be cloned, and logs
// why not. p.compileMu is held, before the first instance.
func (p *pool) checkCloneable(cm wazero.CompiledModule) {
	if p.cloneErr = cloneable(cm); p.cloneErr != nil {
		p.disableClones(p.cloneErr)
	}
}

// warm compiles the module and starts an instance if the pool has none, so
// the first request does not pay for either. It returns nil once the pool
// can serve.
func (p *pool) warm() error {
	if err := p.compile(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.live > 0 || p.live >= p.max {
		p.mu.Unlock()
		return nil
	}
	p.live++
	p.mu.Unlock()
	inst, err := p.create()
	if err != nil {
		return err
	}
	p.put(inst, true)
	return nil
}

// check compiles the module and makes sure an instance can start: it
// takes one as a request would (an idle one, a new one, or the next to
// come back, for at most QueueTimeout) and gives it back. Host.Warm uses
// it, so a module whose guest fails as it initialises is reported even
// while the background warm-up is starting that instance.
func (p *pool) check() error {
	if err := p.compile(); err != nil {
		return err
	}
	p.mu.Lock()
	if len(p.idle) > 0 {
		p.mu.Unlock()
		return nil
	}
	if p.live < p.max {
		p.live++
		p.mu.Unlock()
		inst, err := p.create()
		if err != nil {
			return err
		}
		p.put(inst, true)
		return nil
	}
	ch := make(chan *instance, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	wait := time.NewTimer(p.h.opts.QueueTimeout)
	defer wait.Stop()
	select {
	case inst := <-ch:
		if inst == nil { // a place was handed over: the instance in it failed
			created, err := p.create()
			if err != nil {
				return err
			}
			inst = created
		}
		p.put(inst, true)
		return nil
	case <-wait.C:
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, ch); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		return nil // every instance is busy serving: it can start
	}
	p.mu.Unlock()
	if inst := <-ch; inst != nil {
		p.putBack(inst, true)
	} else {
		p.release()
	}
	return nil
}

// get returns the most recently used idle instance, or a new one while the
// pool is below its instance limit, or waits for one to come back, for at
// most QueueTimeout. A route with isolation = "request" gets an instance
// that never served a request: a fresh idle one, or a new one, made in the
// place of the least recently used idle one if need be. A call waiting for
// the module to compile or for an instance gives its CPU slot up
// meanwhile: the caller takes the slot first, so a pool grows only when a
// request that could compute now finds no instance, not when many wait.
func (p *pool) get(c *call) (*instance, error) {
	if !p.ready.Load() {
		held := c.pause()
		err := p.compile()
		if held {
			c.acquireCPU()
		}
		if err != nil {
			return nil, err
		}
	}
	fresh := c.route.isolated
	p.mu.Lock()
	if inst := p.takeIdle(fresh); inst != nil {
		p.mu.Unlock()
		return inst, nil
	}
	if p.live < p.max {
		p.live++
		p.mu.Unlock()
		return p.create()
	}
	if fresh && len(p.idle) > 0 {
		old := p.idle[0]
		p.idle = p.idle[1:]
		p.mu.Unlock()
		return p.recreate(old)
	}
	ch := make(chan *instance, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()

	if c.pause() {
		defer c.acquireCPU()
	}
	wait := time.NewTimer(p.h.opts.QueueTimeout)
	defer wait.Stop()
	var err error
	select {
	case inst := <-ch:
		switch {
		case inst == nil:
			return p.create() // a place was handed over
		case fresh && inst.used:
			return p.recreate(inst)
		}
		return inst, nil
	case <-wait.C:
		err = errSaturated
	case <-c.Done():
		err = c.Err()
	}
	// Leave the queue. What was handed over meanwhile goes back.
	p.mu.Lock()
	if i := slices.Index(p.waiters, ch); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		return nil, err
	}
	p.mu.Unlock()
	if inst := <-ch; inst != nil {
		p.putBack(inst, true)
	} else {
		p.release()
	}
	return nil, err
}

// takeIdle takes the most recently used idle instance, or with fresh the
// most recent one that never served a request, or returns nil. p.mu is
// held.
func (p *pool) takeIdle(fresh bool) *instance {
	for i := len(p.idle) - 1; i >= 0; i-- {
		if inst := p.idle[i]; !fresh || !inst.used {
			p.idle = slices.Delete(p.idle, i, i+1)
			return inst
		}
	}
	return nil
}

// recreate closes old, an instance that served requests, and makes a new
// one in its place.
func (p *pool) recreate(old *instance) (*instance, error) {
	old.close()
	return p.create()
}

// create makes an instance in a place reserved for it, and gives the place
// back if it cannot.
func (p *pool) create() (*instance, error) {
	inst, err := p.newInstance()
	if err != nil {
		p.release()
		if !errors.Is(err, errClosed) && !errors.Is(err, errMemoryBudget) {
			p.failed("module cannot start an instance", err)
		}
		return nil, err
	}
	return inst, nil
}

// errSaturated means the app's instances, or the route's share of them,
// stayed busy for the whole queue timeout.
var errSaturated = errors.New("every instance is busy")

// put returns an instance after a request. An unhealthy one, or any after the
// pool was retired, is closed and its place freed.
func (p *pool) put(inst *instance, healthy bool) {
	inst.lastUsed = time.Now()
	p.putBack(inst, healthy)
}

// putBack returns an instance to the pool as put does, keeping when it
// was last used: to the first waiter, or on top of the idle stack.
func (p *pool) putBack(inst *instance, healthy bool) {
	p.mu.Lock()
	switch {
	case !healthy || p.retired:
		p.mu.Unlock()
		p.discard(inst)
	case p.stale(inst):
		p.mu.Unlock()
		inst.close() // its code was replaced; not a failure
		p.release()
	case len(p.waiters) > 0:
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- inst
	default:
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
	}
}

// release gives an instance's place back: to the first waiter, who makes
// an instance in it, or to the pool. The compiled module of a retired pool
// closes with its last instance.
func (p *pool) release() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- nil
		return
	}
	p.live--
	last := p.retired && p.live == 0
	p.mu.Unlock()
	if last {
		p.closeCompiled()
	}
}

// drop closes an instance that served the one request it was for
// (isolation = "request"), and starts a fresh one in the background, so the
// next request does not wait for _initialize.
func (p *pool) drop(inst *instance) {
	inst.close()
	p.release()
	p.replenish()
}

// replenish starts one instance in the background when the pool has no
// fresh one idle and room for one.
func (p *pool) replenish() {
	p.mu.Lock()
	fresh := slices.ContainsFunc(p.idle, func(inst *instance) bool { return !inst.used })
	if fresh || p.live >= p.max || p.retired {
		p.mu.Unlock()
		return
	}
	p.live++
	p.mu.Unlock()
	// Under the host's lock, so Close never waits for the background
	// work while some is being added.
	p.h.life.RLock()
	defer p.h.life.RUnlock()
	if p.h.closed {
		go p.release() // not under the lock: the last release closes the module
		return
	}
	p.h.bg.Add(1)
	go func() {
		defer p.h.bg.Done()
		if inst, err := p.create(); err == nil {
			p.put(inst, true)
		}
	}()
}

func (p *pool) discard(inst *instance) {
	if !p.retiredNow() {
		p.discarded.Add(1)
	}
	inst.close()
	p.release()
}

// reap closes the idle instances not used since cutoff, but one: a route
// that served a burst gives back the memory of the instances the burst made
// once it has passed, and keeps one warm instance. The least recently used
// are at the bottom of the stack.
func (p *pool) reap(cutoff time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle)-1 && p.idle[n].lastUsed.Before(cutoff) {
		n++
	}
	old := slices.Clone(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
	p.mu.Unlock()
	for _, inst := range old {
		inst.close()
		p.release()
	}
}

// retire takes the pool out of service after a reload: idle instances close
// now, busy ones when their request ends, and the compiled module after the
// last of them.
func (p *pool) retire() {
	p.mu.Lock()
	p.retired = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		p.discard(inst)
	}
	p.mu.Lock()
	last := p.live == 0
	p.mu.Unlock()
	if last {
		p.closeCompiled()
	}
}

func (p *pool) retiredNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retired
}

// stats reports the pool's instances and counters.
func (p *pool) stats() ModuleStats {
	p.mu.Lock()
	live, idle, routes := p.live, len(p.idle), p.routes
	p.mu.Unlock()
	return ModuleStats{Module: p.sha, Routes: routes, Instances: live, Idle: idle,
		Computing: int(p.computing.Load()), Calls: p.calls.Load(), Discarded: p.discarded.Load()}
}

func (p *pool) closeCompiled() {
	// compileMu guards p.compiled; a compile still running finishes first.
	p.compileMu.Lock()
	defer p.compileMu.Unlock()
	p.closed = true
	p.ready.Store(false)
	p.snapMu.Lock()
	if p.snap != nil {
		p.snap.image.close()
		p.snap = nil
	}
	p.noClone = true
	p.snapMu.Unlock()
	if p.compiled != nil {
		p.h.e.release(p.sha, p.network)
		p.compiled = nil
	}
	if p.interp != nil {
		p.interp.Close(context.Background())
		p.interp = nil
	}
	p.code.Store(nil)
}

// newInstance starts an instance: a clone of the pool's snapshot when it
// has one, else a fresh one, which becomes the snapshot if the pool has
// none yet. A clone that fails to start makes the pool give cloning up
// (logged once) and start fresh instances.
func (p *pool) newInstance() (*instance, error) {
	start := time.Now()
	inst, clone, err := p.startInstance()
	if on := p.h.e.opts.OnInstance; on != nil && err == nil {
		on(clone, time.Since(start))
	}
	return inst, err
}

// startInstance is newInstance; clone says whether the instance is a
// clone.
func (p *pool) startInstance() (*instance, bool, error) {
	if snap := p.snapshot(); snap != nil {
		inst, err := p.instantiate(snap)
		if err == nil || errors.Is(err, errClosed) || errors.Is(err, errMemoryBudget) {
			return inst, err == nil, err
		}
		p.disableClones(fmt.Errorf("cloning: %w", err))
	}
	inst, err := p.instantiate(nil)
	if err != nil || p.cloneErr != nil {
		return inst, false, err
	}
	// The instance that gave the snapshot has all its pages of its own;
	// a clone of it shares them with the snapshot, so it takes its place.
	if snap := p.takeSnapshot(inst.mod); snap != nil {
		if clone, err := p.instantiate(snap); err == nil {
			inst.close()
			return clone, true, nil
		}
	}
	return inst, false, nil
}

// instantiate starts an instance of the compiled module: a clone of snap,
// or with snap nil a fresh one that runs the module's initialisation.
func (p *pool) instantiate(snap *snapshot) (*instance, error) {
	c := p.code.Load()
	if c == nil {
		return nil, errRetired
	}
	inst := &instance{pool: p, stack: make([]uint64, 3), mem: &memoryUse{budget: &p.h.e.memory}, gen: c.gen}
	// wazero cannot take a refusal of a memory's first allocation, so the
	// module's initial memory comes from the budget before it starts.
	if !inst.mem.resize(initialMemory(c.cm)) {
		return nil, fmt.Errorf("starting module %s: %w", p.module, errMemoryBudget)
	}
	inst.stdout = &guestOutput{inst: inst, stream: "stdout"}
	inst.stderr = &guestOutput{inst: inst, stream: "stderr"}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(inst.stdout).
		WithStderr(inst.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(inst.nanosleep).
		WithRandSource(randReader)
	var image *memoryImage
	switch {
	case snap != nil:
		// The snapshot holds what the start functions did.
		cfg, image = cfg.WithStartFunctions(), snap.image
		if p.memoryLimit > 0 && snap.size > p.memoryLimit {
			return nil, fmt.Errorf("the snapshot's %d bytes of memory exceed the limit", snap.size)
		}
	case p.cloneErr == nil:
		cfg = cfg.WithStartFunctions(abi.ExportInitData, abi.ExportInitialize)
	default:
		cfg = cfg.WithStartFunctions(abi.ExportInitialize)
	}
	for _, kv := range p.env {
		k, v, _ := strings.Cut(kv, "=")
		cfg = cfg.WithEnv(k, v)
	}
	var mod api.Module
	err := p.h.withRuntime(func() (err error) {
		rt := c.rt
		if rt == nil {
			if rt, err = p.runtime(); err != nil {
				return err
			}
		}
		ctx := context.Background()
		if p.network {
			if inst.wasiCtx, err = p.newWASI(inst); err != nil {
				return err
			}
			ctx = inst.wasiCtx
		}
		mod, err = rt.InstantiateModule(memoryContext(ctx, p.memoryLimit, inst.mem, image), c.cm, cfg)
		if err == nil && snap != nil {
			if err = snap.restore(ctx, mod); err != nil {
				mod.Close(ctx)
			}
		}
		return err
	})
	inst.stderr.flush()
	inst.stdout.flush()
	if b := inst.initLog; b.suppressedLines > 0 {
		p.h.log.Warn("guest log lines suppressed while starting an instance", slog.String("module", p.module),
			slog.Int("lines", b.suppressedLines), slog.Int("bytes", b.suppressedBytes))
	}
	if err != nil {
		inst.close()
		inst.mem.free() // what wazero did not take over
		if errors.Is(err, errClosed) {
			return nil, err
		}
		if inst.mem.refused.Load() {
			err = errMemoryBudget
		}
		return nil, fmt.Errorf("starting module %s: %w", p.module, err)
	}
	inst.mod = mod
	inst.handle = mod.ExportedFunction(abi.ExportHandle)
	return inst, nil
}

// initialMemory is the size of a module's linear memory when it starts.
func initialMemory(cm wazero.CompiledModule) uint64 {
	for _, m := range cm.ExportedMemories() {
		return uint64(m.Min()) * 65536
	}
	return 0
}

// checkExports refuses modules that do not speak this host's ABI version.
func checkExports(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	want := abi.VersionExport(abi.Version)
	if _, ok := exports[want]; !ok {
		for name := range exports {
			if v, found := strings.CutPrefix(name, abi.VersionExportPrefix); found {
				return fmt.Errorf("module speaks wasmroute ABI v%s; this host speaks v%d (rebuild it with this version of wasmroute)", v, abi.Version)
			}
		}
		return fmt.Errorf("module is not a wasmroute guest: it has no %s export", want)
	}
	for _, name := range []string{abi.ExportHandle, abi.ExportInitialize} {
		if _, ok := exports[name]; !ok {
			return fmt.Errorf("module has no %s export (build it with -buildmode=c-shared)", name)
		}
	}
	h := exports[abi.ExportHandle]
	if p, r := h.ParamTypes(), h.ResultTypes(); !slices.Equal(p, []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}) ||
		!slices.Equal(r, []api.ValueType{api.ValueTypeI32}) {
		return fmt.Errorf("export %s has signature %v -> %v, want (i32, i32, i32) -> i32", abi.ExportHandle, p, r)
	}
	return nil
}
