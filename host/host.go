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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/kv"
	"github.com/wasmroute/wasmroute/host/router"
)

// Options configure a Host. The zero value is ready to use. The limits here
// are defaults: an app's wasmroute.toml, and a route's own config, override
// them, except that no instance's memory can exceed MemoryLimitPages.
type Options struct {
	// Logger receives one line per request, guest output, and errors.
	// Defaults to slog.Default().
	Logger *slog.Logger
	// CacheDir is where compiled modules are cached between runs. Defaults to
	// wasmroute/wazero under os.UserCacheDir. "off" disables the cache.
	CacheDir string
	// MaxInstances caps the instances of one module of the app, and so the
	// requests the app serves at once (max_instances in wasmroute.toml).
	// Past it a request waits for QueueTimeout, then gets 503. Defaults to
	// 4 × GOMAXPROCS, at least 8.
	MaxInstances int
	// RecycleMemory retires an instance whose linear memory has grown past
	// this many bytes, since Go guests never give memory back. Defaults to
	// 64 MiB.
	RecycleMemory uint32
	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages:
	// the default, and the most memory_limit in wasmroute.toml can give.
	// A guest that needs more traps (500). Defaults to 2048 (128 MiB).
	MemoryLimitPages uint32
	// BodyLimit caps request bodies, in bytes, for apps and routes that do
	// not set their own (body_limit in wasmroute.toml, const BodyLimit in a
	// route file). A larger body gets 413 {"error":"Request body too large"}.
	// Defaults to DefaultBodyLimit.
	BodyLimit int64
	// QueueTimeout is how long a request waits for an instance when the app
	// already runs MaxInstances requests, or its route its own
	// max_instances. Past it the client gets 503 with Retry-After. Defaults
	// to 5 seconds.
	QueueTimeout time.Duration
	// MaxURLLength caps the request target (path and query) in bytes; a
	// longer one gets 414 (max_url_length in wasmroute.toml). Defaults to
	// 16 KiB.
	MaxURLLength int
	// MaxHeaderBytes caps the request's header fields (names and values);
	// a request over it gets 431 {"error":"Request Header Fields Too
	// Large"} (max_header_size in wasmroute.toml). Defaults to 64 KiB. The
	// http.Server in front should allow
	// more (net/http's default is 1 MiB), so the host gives the answer.
	MaxHeaderBytes int
	// MaxResponseHeaderBytes caps the headers of a guest's response
	// ("Name: value\r\n" each); a guest over it gets a 500 and a log line.
	// Defaults to 64 KiB.
	MaxResponseHeaderBytes int
	// IdleInstanceTimeout is how long an instance may wait for a request
	// before the host closes it, keeping one per route: a burst's instances,
	// and their memory, go once it has passed. Defaults to one minute.
	IdleInstanceTimeout time.Duration
	// MaxLogLines and MaxLogBytes cap what one request's guest writes to
	// the log (stdout, stderr, the log function): past either, its lines
	// are dropped and counted, and one record at the end of the request says
	// how many. They default to 100 lines and 64 KiB.
	MaxLogLines, MaxLogBytes int
	// MaxDuration is the wall-clock limit of one request in a guest, for
	// apps and routes that do not set their own (max_duration in
	// wasmroute.toml, const MaxDuration in a route file). Past it the guest is stopped and its instance
	// discarded; the client gets 504 {"error":"Gateway Timeout"}, or a cut
	// stream if the response had started. Defaults to 30 seconds.
	MaxDuration time.Duration
	// KV is the app's key-value store, shared by all its routes. Defaults to
	// an in-memory store, lost when the process exits; `wasmroute start`
	// passes a kv.Bolt in its data directory. Close does not close it.
	KV kv.Store
	// LookupSecret returns the value of a secret the app declares in
	// wasmroute.toml. Defaults to os.LookupEnv. A declared secret it does
	// not know makes New and Reload fail, naming it.
	LookupSecret func(name string) (string, bool)
	// CloseOnContextDone stops a guest at its time limit through wazero's
	// context check (wazero.RuntimeConfig.WithCloseOnContextDone) instead
	// of the countdown `wasmroute build` adds to every loop. It is for
	// modules built some other way, which lack the countdown; it makes
	// loop-heavy guests about twice as slow (RATIONALE.md, "Time limits").
	CloseOnContextDone bool
	// GuestConcurrency is how many guest calls compute at once; calls
	// waiting for the client, the store, a sleep or the network do not
	// count. Defaults to the number of CPUs; negative means no limit.
	// CloseOnContextDone turns the limit off, as a module without the loop
	// countdown could not give its turn up.
	GuestConcurrency int
	// MemoryBudget caps the linear memory of all instances together, in
	// bytes. An instance that cannot start or grow within it fails its
	// request with 503 and Retry-After, and a log line; instances already
	// running keep what they have. Defaults to half the memory of the
	// machine (or of the process's cgroup, when lower).
	MemoryBudget uint64
	// MaxSocketsPerInstance caps the sockets one instance may hold open; a
	// guest asking for more gets EMFILE and a log line. A request that
	// leaves sockets open retires its instance, so they never outlive it.
	// Defaults to 16.
	MaxSocketsPerInstance int
	// MaxGuestSockets caps the file descriptors all guests hold at once:
	// their sockets, and 5 for each instance of a module that uses the
	// network. Defaults to half the process's open-file limit, so the
	// host's listener always has descriptors left.
	MaxGuestSockets int
	// AppName names the app in every log line. Defaults to the name of the
	// app directory (the bundle directory's parent).
	AppName string
	// Env overrides the values of variables the app declares in [env], as
	// deployment platforms let operators do (`wasmroute start --env`). A
	// name the app does not declare makes New and Reload fail.
	Env map[string]string
}

// DefaultBodyLimit is the request body limit when neither the app nor the
// route sets one: 4.5 MB, as on Vercel.
const DefaultBodyLimit = 4_718_592

// engine returns the engine fields of o, for New.
func (o Options) engine() EngineOptions {
	return EngineOptions{Logger: o.Logger, CacheDir: o.CacheDir, MemoryLimitPages: o.MemoryLimitPages,
		CloseOnContextDone: o.CloseOnContextDone, GuestConcurrency: o.GuestConcurrency,
		MemoryBudget: o.MemoryBudget, MaxGuestSockets: o.MaxGuestSockets}
}

// engineOptions sets o's engine fields to the engine's, which an app loaded
// into it runs under.
func (o *Options) engineOptions(e EngineOptions) {
	o.CacheDir, o.MemoryLimitPages, o.CloseOnContextDone = e.CacheDir, e.MemoryLimitPages, e.CloseOnContextDone
	o.GuestConcurrency, o.MemoryBudget, o.MaxGuestSockets = e.GuestConcurrency, e.MemoryBudget, e.MaxGuestSockets
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = max(8, 4*runtime.GOMAXPROCS(0))
	}
	if o.RecycleMemory == 0 {
		o.RecycleMemory = 64 << 20
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	if o.LookupSecret == nil {
		o.LookupSecret = os.LookupEnv
	}
	if o.KV == nil {
		o.KV = kv.NewMemory(kv.DefaultQuota)
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 30 * time.Second
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = 5 * time.Second
	}
	if o.MaxURLLength <= 0 {
		o.MaxURLLength = 16 << 10
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 64 << 10
	}
	if o.MaxSocketsPerInstance <= 0 {
		o.MaxSocketsPerInstance = 16
	}
	if o.IdleInstanceTimeout <= 0 {
		o.IdleInstanceTimeout = time.Minute
	}
	if o.MaxLogLines <= 0 {
		o.MaxLogLines = 100
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = 64 << 10
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = 64 << 10
	}
}

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

	state    atomic.Pointer[state]
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
}

// state is one generation of the route table. Reload swaps it atomically;
// requests already running keep the generation they started with.
type state struct {
	router *router.Table
	routes []*route
	// pools serve the app's modules, indexed like the manifest's.
	pools []*pool
	cors  *cors // nil: the app has no CORS policy
	// middleware runs the app's middleware alone, in the first module, for
	// requests the routes' modules cannot take it along to (no route, 405,
	// OPTIONS, ...). nil: the app has no middleware.
	middleware *route
	matcher    *router.Matcher // paths the middleware runs for
	// The app's request limits, checked before routing.
	maxURLLength, maxHeaderBytes int
	// maxDuration is the app's time limit, which bounds the waits on a
	// client until a route's own limit takes over.
	maxDuration time.Duration
}

// route is one entry of the route table with the pool that serves it.
type route struct {
	bundle.Route
	// index is the route's index in the manifest, which the host passes
	// to the module (abi.NoRoute for the middleware alone).
	index       uint32
	methods     methodSet
	allow       string
	bodyLimit   int64
	maxDuration time.Duration
	// slots caps the requests the route serves at once when it sets its
	// own max_instances; nil: only the app's cap applies.
	slots chan struct{}
	// isolated gives every request a fresh instance, closed after it
	// (isolation = "request").
	isolated bool
	// withMiddleware says the module runs the app's middleware before
	// the route's handler in the same call (abi.FlagMiddleware).
	withMiddleware bool
	pool           *pool
}

// limits fills in r's limits: the route's own config, else the app's, else
// the host's defaults.
func (r *route) limits(app bundle.AppConfig, o *Options) {
	r.bodyLimit = firstPositive(r.Config.BodyLimit, app.BodyLimit, o.BodyLimit)
	r.maxDuration = time.Duration(firstPositive(r.Config.MaxDuration, app.MaxDuration)) * time.Second
	if r.maxDuration == 0 {
		r.maxDuration = o.MaxDuration
	}
	if n := r.Config.MaxInstances; n > 0 {
		r.slots = make(chan struct{}, n)
	}
	isolation := r.Config.Isolation
	if isolation == "" {
		isolation = app.Isolation
	}
	r.isolated = isolation == bundle.IsolationRequest
}

// appLimits are the limits of the app's instances: the app's own config,
// else the host's defaults. A memory limit above the runtime's is the
// runtime's (0).
func appLimits(app bundle.AppConfig, o *Options) (memoryLimit uint64, maxInstances int) {
	if mem := uint64(app.MemoryLimit); mem > 0 && mem < uint64(o.MemoryLimitPages)*65536 {
		memoryLimit = mem
	}
	return memoryLimit, firstPositive(app.MaxInstances, o.MaxInstances)
}

// firstPositive returns the first of vs above zero, or zero.
func firstPositive[T int | int64](vs ...T) T {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
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
	h := &Host{dir: dir, opts: opts, kv: opts.KV, e: e, done: make(chan struct{})}
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
	m, err := bundle.Load(h.dir)
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
	next := &state{router: tbl, routes: make([]*route, len(m.Routes)), pools: make([]*pool, len(m.Modules)),
		cors:           newCORS(m.App.CORS),
		maxURLLength:   int(firstPositive(m.App.MaxURLLength, int64(h.opts.MaxURLLength))),
		maxHeaderBytes: int(firstPositive(m.App.MaxHeaderBytes, int64(h.opts.MaxHeaderBytes))),
		maxDuration:    h.opts.MaxDuration}
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
	for _, p := range next.pools {
		h.bg.Add(1)
		go func() {
			defer h.bg.Done()
			select {
			case h.e.warmSem <- struct{}{}:
			case <-h.done:
				return
			}
			defer func() { <-h.e.warmSem }()
			_ = p.warm() // a failure is logged and retried
		}()
	}
	return nil
}

// Warm compiles every module of the app and starts an instance of each,
// and returns the errors of the modules that cannot serve, joined: one that
// does not compile, or whose guest fails while it initialises.
func (h *Host) Warm(ctx context.Context) error {
	var errs []error
	for _, p := range h.state.Load().pools {
		if err := p.warm(); err != nil {
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

// ServeHTTP routes the request and serves it from the route's module.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	id := h.reqBase + strconv.FormatUint(h.reqSeq.Add(1), 36)
	pattern, origPath := "", r.URL.Path // a middleware may rewrite r.URL
	defer func() {
		p := recover()
		if rec.status == 0 && r.Context().Err() != nil {
			// The client left before anything was sent: nginx's 499.
			rec.status, rec.aborted = statusClientClosed, true
		}
		level := slog.LevelInfo
		switch {
		case rec.status >= 500 || (p != nil && p != http.ErrAbortHandler):
			level = slog.LevelError
		case rec.aborted:
			level = slog.LevelWarn
		}
		h.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", id), slog.String("method", r.Method),
			slog.String("path", origPath), slog.String("route", pattern),
			slog.Int("status", rec.statusOr200()), slog.Int64("bytes", rec.size), slog.Bool("aborted", rec.aborted),
			slog.Duration("duration", time.Since(start)))
		if p != nil {
			panic(p)
		}
	}()

	s := h.state.Load()
	setClientDeadline(w, r.ContentLength != 0, start.Add(s.maxDuration))
	if len(r.RequestURI) > s.maxURLLength {
		h.log.Warn("URL too long", slog.String("request_id", id), slog.Int("length", len(r.RequestURI)), slog.Int("limit", s.maxURLLength))
		writeError(rec, http.StatusRequestURITooLong, "URI Too Long")
		return
	}
	if n := headerBytes(r.Header); n > s.maxHeaderBytes {
		h.log.Warn("request headers too large", slog.String("request_id", id), slog.Int("bytes", n), slog.Int("limit", s.maxHeaderBytes))
		rec.Header().Set("Connection", "close")
		rec.closeConn = true
		writeError(rec, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
		return
	}
	path := r.URL.EscapedPath()
	if clean := router.Clean(path); clean != path {
		// Next.js redirects /api/hello/ to /api/hello; unclean paths
		// (//, /./, /../) get the same treatment.
		target := clean
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(rec, r, target, http.StatusPermanentRedirect)
		return
	}
	if r.ContentLength != 0 {
		// In full duplex (serveRoute), net/http neither drains a body the
		// handler left unread (it panics reading the next request,
		// golang/go#68560) nor closes the connection after a body that
		// failed to read. endBody does both. r.Body is read when this runs:
		// serveRoute wraps it.
		defer func() { endBody(w, r, rec) }()
	}
	c := getCall()
	defer putCall(c)
	rt := s.match(c, path)
	if s.middleware != nil && s.matcher.Match(path) {
		if inlineMiddleware(rt, r) {
			// The route's module runs the middleware and the handler in one
			// call; it comes back only for a rewrite.
			c.withMiddleware = true
			pattern = h.serveRoute(c, rec, w, r, s, rt, id)
			if c.headSent || !c.nextSet || !h.applyNext(rec, r, &c.next, id) {
				return
			}
		} else if !h.runMiddleware(rec, r, s.middleware, id) {
			return // the middleware answered
		}
		// A rewrite changes the route. After the inline call, the call is
		// spent and the request routes again on a fresh one.
		if c.withMiddleware {
			c = getCall()
			defer putCall(c)
			rt = s.match(c, r.URL.EscapedPath())
		} else if rewritten := r.URL.EscapedPath(); rewritten != path {
			rt = s.match(c, rewritten)
		}
	}
	pattern = h.serveRoute(c, rec, w, r, s, rt, id)
}

// match finds the route serving path and puts its parameters in c's
// request head, or returns nil.
func (s *state) match(c *call, path string) *route {
	idx, params, ok := s.router.Match(path, c.head.Params[:0])
	c.head.Params = params
	if !ok {
		return nil
	}
	return s.routes[idx]
}

// inlineMiddleware reports whether rt's module will run the middleware
// with the route's handler for r, in one call: rt serves r's method and
// accepts its declared body size. For any other request (no route, 405,
// automatic OPTIONS, a CORS preflight, 413) the host answers without the
// route, so the middleware runs alone first.
func inlineMiddleware(rt *route, r *http.Request) bool {
	return rt != nil && rt.withMiddleware && rt.methods.serves(methodBit(r.Method)) && r.ContentLength <= rt.bodyLimit
}

// serveRoute serves the request from rt's module (matched by s.match into
// c), or answers 404 (rt nil), 405, OPTIONS, a CORS preflight or 413 itself.
// It returns the route's pattern, or "" when no route matched.
func (h *Host) serveRoute(c *call, rec *recorder, w http.ResponseWriter, r *http.Request, s *state, rt *route, id string) string {
	if rt == nil {
		writeError(rec, http.StatusNotFound, "Not Found")
		return ""
	}
	if s.cors != nil && s.cors.handle(h, rec, r, rt, id) {
		return rt.Pattern
	}
	m := methodBit(r.Method)
	if !rt.methods.serves(m) {
		if m == methodOPTIONS {
			rec.Header().Set("Allow", rt.allow)
			rec.WriteHeader(http.StatusNoContent)
			return rt.Pattern
		}
		rec.Header().Set("Allow", rt.allow)
		writeError(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
		return rt.Pattern
	}
	if r.ContentLength > rt.bodyLimit {
		h.log.Warn("request body too large", slog.String("request_id", id), slog.String("route", rt.Pattern),
			slog.Int64("content_length", r.ContentLength), slog.Int64("limit", rt.bodyLimit))
		rec.Header().Set("Connection", "close")
		rec.closeConn = true
		writeError(rec, http.StatusRequestEntityTooLarge, "Request body too large")
		return rt.Pattern
	}
	if r.ContentLength != 0 {
		// A body without a length, or one that lies about it, is cut off at
		// the limit while the guest streams it.
		r.Body = http.MaxBytesReader(w, r.Body, rt.bodyLimit)
		// Guests stream: a handler may answer before it has read the whole
		// body (an upload progress stream, an echo). Without full duplex,
		// net/http would first try to swallow the unread body.
		// ServeHTTP closes the body before it returns (see there).
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	c.init(h, rt, id, rec, r)
	h.invoke(c)
	return rt.Pattern
}

// headerBytes is the size of the header fields as sent: "Name: value\r\n".
func headerBytes(h http.Header) int {
	n := 0
	for name, values := range h {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	return n
}

// writeError writes the one error shape of the product: {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// statusClientClosed is what the request log says of a request whose client
// left before it was answered (nginx's 499).
const statusClientClosed = 499

// recorder remembers the status and size of a response for the request log.
type recorder struct {
	http.ResponseWriter
	status    int
	size      int64
	aborted   bool // the response was cut off
	closeConn bool // the connection must not carry another request
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.size += int64(n)
	return n, err
}

// FlushError sends buffered data to the client; http.ResponseController
// uses it.
func (r *recorder) FlushError() error {
	return http.NewResponseController(r.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (r *recorder) Flush() { _ = r.FlushError() }

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
