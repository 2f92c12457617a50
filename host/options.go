package host

import (
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/wasmroute/wasmroute/host/cache"
	"github.com/wasmroute/wasmroute/host/kv"
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
	// OnRequest, if set, is called at the end of every request with the
	// route's pattern ("" when none matched), the status sent, and how
	// long it took: for metrics.
	OnRequest func(route string, status int, took time.Duration)
	// OnCache, if set, is called for every request the response cache
	// takes, with the route's pattern and how it answered: "HIT", "STALE"
	// or "MISS". For metrics.
	OnCache func(route, state string)
	// Version, if set, is the version of the bundle to serve, instead of
	// its current one: an edge host loads a version to check it before it
	// makes it current.
	Version string
	// FastStart serves a module that is not in the compilation cache from
	// wazero's interpreter at once (it compiles several times faster), and
	// switches new instances to the compiled code when the compiler is
	// done. `wasmroute dev` sets it, so saved code answers sooner; guest
	// code runs many times slower meanwhile. Modules that use the network
	// always wait for the compiler.
	FastStart bool
	// Cache and MaxCacheEntryBytes are the engine's (EngineOptions), for
	// New.
	Cache              cache.Store
	MaxCacheEntryBytes int64
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
		MemoryBudget: o.MemoryBudget, MaxGuestSockets: o.MaxGuestSockets, Cache: o.Cache, MaxCacheEntryBytes: o.MaxCacheEntryBytes}
}

// engineOptions sets o's engine fields to the engine's, which an app loaded
// into it runs under.
func (o *Options) engineOptions(e EngineOptions) {
	o.CacheDir, o.MemoryLimitPages, o.CloseOnContextDone = e.CacheDir, e.MemoryLimitPages, e.CloseOnContextDone
	o.GuestConcurrency, o.MemoryBudget, o.MaxGuestSockets = e.GuestConcurrency, e.MemoryBudget, e.MaxGuestSockets
	o.Cache, o.MaxCacheEntryBytes = e.Cache, e.MaxCacheEntryBytes
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
	if o.MaxCacheEntryBytes <= 0 {
		o.MaxCacheEntryBytes = cache.DefaultMaxEntryBytes
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = 64 << 10
	}
}
