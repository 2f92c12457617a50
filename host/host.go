// Package host serves built wasmroute apps: it loads a bundle, compiles the
// app's WebAssembly module with wazero, keeps a bounded pool of initialised
// instances of it, and maps every HTTP request to one call into the module,
// naming the route, with Next.js App Router semantics for paths and methods.
//
// A *Host is an http.Handler, so it embeds into any Go server:
//
//	h, err := host.New("myapp/.wasmroute", host.Options{})
//	if err != nil { ... }
//	defer h.Close(context.Background())
//	http.ListenAndServe("127.0.0.1:3000", h)
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/cache"
	"github.com/wasmroute/wasmroute/host/kv"
	"github.com/wasmroute/wasmroute/host/router"
)

// Host serves one app: the routes of one bundle, on an Engine it may share
// with other apps. It is an http.Handler, safe for concurrent use.
type Host struct {
	dir  string
	opts Options
	log  *slog.Logger
	kv   kv.Store
	e    *Engine
	// ownEngine is set when New made the engine for this app alone: Close
	// closes it too.
	ownEngine bool

	state    atomic.Pointer[generation]
	reloadMu sync.Mutex

	// life guards the app's background work: adding to bg holds it for
	// reading, Close for writing, so Close never waits for work being
	// added.
	life    sync.RWMutex
	closed  bool
	bg      sync.WaitGroup // background warm-ups, retries and the reaper
	done    chan struct{}  // closed by Close: background work stops
	reqSeq  atomic.Uint64
	reqBase string

	// cache is the engine's response cache (nil: none); flights are the
	// calls generating its entries for this app.
	cache     cache.Store
	flights   flights
	cacheErrs cacheErrors
}

// New loads the bundle in dir (an app's .wasmroute directory) and returns a
// Host serving it, on an engine of its own. Modules compile in the
// background; a request whose module is not compiled yet waits for it.
// Call Warm to wait for all of them and learn which failed. To serve many
// apps in one process, make one Engine and Load each into it.
func New(dir string, opts Options) (*Host, error) {
	e, err := NewEngine(opts.engine())
	if err != nil {
		return nil, err
	}
	h, err := e.Load(dir, opts)
	if err != nil {
		e.Close(context.Background())
		return nil, err
	}
	h.ownEngine = true
	return h, nil
}

// load makes the Host of the app in dir on e, with opts' engine fields set
// from e.
func load(e *Engine, dir string, opts Options) (*Host, error) {
	opts.setDefaults()
	if opts.AppName == "" {
		if abs, err := filepath.Abs(dir); err == nil {
			opts.AppName = filepath.Base(filepath.Dir(abs))
		}
	}
	h := &Host{dir: dir, opts: opts, kv: opts.KV, e: e, done: make(chan struct{}), cache: opts.Cache}
	// Every line names the app, so several apps can share a log.
	h.log = opts.Logger.With(slog.String("app", opts.AppName))
	h.reqBase = strconv.FormatInt(time.Now().UnixNano()%(1<<30), 36) + "-"
	if err := h.Reload(); err != nil {
		h.unload(context.Background())
		return nil, err
	}
	h.bg.Add(1)
	go h.reapIdle()
	return h, nil
}

// reapIdle closes instances idle for longer than IdleInstanceTimeout, every
// half of it, until the host closes.
func (h *Host) reapIdle() {
	defer h.bg.Done()
	t := time.NewTicker(h.opts.IdleInstanceTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			return
		case now := <-t.C:
			for _, p := range h.state.Load().pools {
				p.reap(now.Add(-h.opts.IdleInstanceTimeout))
			}
		}
	}
}

// Reload reads the bundle's manifest again and swaps in the new route table.
// Routes whose module did not change keep their compiled module and warm
// instances; requests already running finish on the instances they hold.
// On error the current table stays in place.
func (h *Host) Reload() error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	var m *bundle.Manifest
	var err error
	if h.opts.Version != "" {
		m, err = bundle.LoadVersion(h.dir, h.opts.Version)
	} else {
		m, err = bundle.Load(h.dir)
	}
	if err != nil {
		return err
	}
	patterns := make([]string, len(m.Routes))
	for i, r := range m.Routes {
		patterns[i] = r.Pattern
	}
	tbl, err := router.New(patterns)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(h.dir, bundle.VersionsDir, m.Version+".json"), err)
	}
	env, err := guestEnv(m.App, h.opts.Env, h.opts.LookupSecret)
	if err != nil {
		return err
	}
	allow, err := allowedHosts(m.App.AllowedOutboundHosts, env)
	if err != nil {
		return err
	}
	old := h.state.Load()
	reuse := map[string]*pool{} // by module sha256, environment and limits
	if old != nil {
		for _, p := range old.pools {
			reuse[p.key()] = p
		}
	}
	next := &generation{router: tbl, routes: make([]*route, len(m.Routes)), pools: make([]*pool, len(m.Modules)),
		cors:           newCORS(m.App.CORS),
		maxURLLength:   int(firstPositive(m.App.MaxURLLength, int64(h.opts.MaxURLLength))),
		maxHeaderBytes: int(firstPositive(m.App.MaxHeaderBytes, int64(h.opts.MaxHeaderBytes))),
		maxDuration:    h.opts.MaxDuration, version: m.Version}
	if m.App.MaxDuration > 0 {
		next.maxDuration = time.Duration(m.App.MaxDuration) * time.Second
	}
	memoryLimit, maxInstances := appLimits(m.App, &h.opts)
	kept := map[*pool]bool{}
	for i, mod := range m.Modules {
		p := newPool(h, mod, env, allow, memoryLimit, maxInstances)
		if old := reuse[p.key()]; old != nil && !kept[old] {
			p = old
		}
		kept[p] = true
		next.pools[i] = p
	}
	for i, br := range m.Routes {
		ms, err := parseMethods(br.Methods)
		if err != nil {
			return fmt.Errorf("route %s: %w", br.Pattern, err)
		}
		r := &route{Route: br, index: uint32(i), methods: ms, allow: ms.allow(), pool: next.pools[br.Module],
			withMiddleware: m.Middleware != nil}
		r.limits(m.App, &h.opts)
		next.routes[i] = r
	}
	for i, p := range next.pools {
		var patterns []string
		for _, r := range next.routes {
			if r.Module == i {
				patterns = append(patterns, r.Pattern)
			}
		}
		p.setRoutes(patterns)
	}
	if mw := m.Middleware; mw != nil {
		if next.matcher, err = router.NewMatcher(mw.Matcher); err != nil {
			return fmt.Errorf("middleware %s: %w", mw.Source, err)
		}
		next.middleware = &route{Route: bundle.Route{Pattern: "middleware", Source: mw.Source}, index: abi.NoRoute,
			pool: next.pools[0], withMiddleware: true}
		next.middleware.limits(m.App, &h.opts)
	}
	h.state.Store(next)
	if old != nil {
		for _, p := range old.pools {
			if !kept[p] {
				p.retire()
			}
		}
	}
	h.life.RLock()
	defer h.life.RUnlock()
	if h.closed {
		return nil
	}
	for i, p := range next.pools {
		h.bg.Add(1)
		go func() {
			defer h.bg.Done()
			select {
			case h.e.warmSem <- struct{}{}:
			case <-h.done:
				return
			}
			defer func() { <-h.e.warmSem }()
			// A failure is logged and retried. The app's main module gets a
			// warm instance; the network module, which serves few routes
			// and whose instances are large, only compiles until a request
			// needs it.
			if i == 0 {
				_ = p.warm()
			} else {
				_ = p.compile()
			}
		}()
	}
	return nil
}

// Compile compiles every module of the app that is not compiled yet (or
// takes it from the engine or its cache), and returns the errors of those
// that do not compile, joined. Warm does it too; Compile lets a deploy
// time the two apart.
func (h *Host) Compile() error {
	var errs []error
	for _, p := range h.state.Load().pools {
		if err := p.compile(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Warm compiles every module of the app and starts an instance of each,
// and returns the errors of the modules that cannot serve, joined: one that
// does not compile, or whose guest fails while it initialises.
func (h *Host) Warm(ctx context.Context) error {
	var errs []error
	for _, p := range h.state.Load().pools {
		if err := p.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// errClosed is returned for work asked of a closed host.
var errClosed = errors.New("host is closed")

// withApp runs fn while the app is loaded.
func (h *Host) withApp(fn func() error) error {
	h.life.RLock()
	defer h.life.RUnlock()
	if h.closed {
		return errClosed
	}
	return fn()
}

// withRuntime runs fn while the app is loaded and the engine open.
func (h *Host) withRuntime(fn func() error) error {
	h.life.RLock()
	defer h.life.RUnlock()
	if h.closed {
		return errClosed
	}
	return h.e.withRuntime(fn)
}

// Close unloads the app after its background work stops: idle instances
// close now, and requests still running fail. A Host made by New closes
// its engine too.
func (h *Host) Close(ctx context.Context) error {
	err := h.unload(ctx)
	if h.ownEngine {
		err = errors.Join(err, h.e.Close(ctx))
	}
	return err
}

// unload stops the app's background work and retires its pools.
func (h *Host) unload(ctx context.Context) error {
	h.life.Lock()
	if !h.closed {
		close(h.done)
	}
	h.closed = true
	h.life.Unlock()
	h.bg.Wait()
	if s := h.state.Load(); s != nil {
		for _, p := range s.pools {
			p.retire() // closes idle instances and their WASI systems
		}
	}
	h.e.modMu.Lock()
	delete(h.e.hosts, h)
	h.e.modMu.Unlock()
	return nil
}

// Routes returns the patterns the host serves, in manifest order.
func (h *Host) Routes() []string {
	s := h.state.Load()
	out := make([]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = r.Pattern
	}
	return out
}

// ModuleStats describes one module's instances at a moment.
type ModuleStats struct {
	// Module is the module's SHA-256.
	Module string
	// Routes are the patterns of the routes the module serves.
	Routes []string
	// Instances is how many instances exist, busy or idle.
	Instances int
	// Idle is how many of them wait for a request.
	Idle int
	// Computing is how many of the busy ones run guest code now, holding
	// a CPU slot (Options.GuestConcurrency), rather than waiting.
	Computing int
	// Calls is how many requests entered the module since the host loaded
	// it.
	Calls uint64
	// Discarded is how many instances were closed because their guest
	// failed (trap, exit, time limit) or grew past RecycleMemory.
	Discarded uint64
}

// Stats reports the instances and counters of every module the host
// serves, in manifest order.
func (h *Host) Stats() []ModuleStats {
	var out []ModuleStats
	for _, p := range h.state.Load().pools {
		out = append(out, p.stats())
	}
	return out
}
