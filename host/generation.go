package host

import (
	"sync/atomic"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/cache"
	"github.com/wasmroute/wasmroute/host/router"
)

// generation is one generation of an app: its route table, modules and
// limits. Reload swaps it atomically; requests already running keep the
// generation they started with.
type generation struct {
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
	// version is the bundle version served: part of every cache key, so
	// a new version starts with an empty cache, as a Next.js build does.
	version string
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
	// cacheRule is how the route's segment config caches its responses;
	// cacheStored is set once one of them was stored, so a route that
	// caches only by response is looked up only from then on.
	cacheRule   cache.Rule
	cacheStored atomic.Bool
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
	r.cacheRule = cacheRule(r.Config)
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
