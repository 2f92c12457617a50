package host

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/cache"
)

// The cache stage: GET and HEAD requests to routes that are not
// force-dynamic, when the engine has a cache. It runs after the route is
// matched and before the middleware, so a hit never enters a guest.

// cacheHeader says how the cache answered: HIT, MISS or STALE.
const cacheHeader = "X-Wasmroute-Cache"

// cacheRule is how a route's segment config caches it.
func cacheRule(c bundle.SegmentConfig) cache.Rule {
	switch {
	case c.Dynamic == bundle.DynamicForceDynamic:
		return cache.Never
	case c.Revalidate == bundle.RevalidateNever, c.Dynamic == bundle.DynamicForceStatic, c.Dynamic == bundle.DynamicError:
		return cache.Static
	case c.Revalidate > 0:
		return cache.Timed
	}
	return cache.ByResponse
}

// flight is one guest call that generates a key's entry; requests that
// miss the same key meanwhile wait for it.
type flight struct {
	done   chan struct{}
	stored bool // the call's response went into the cache
}

// flights are the calls generating entries in this process, by key.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller leads it (and
// must end it).
func (fs *flights) join(key string) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[key]; f != nil {
		return f, false
	}
	if fs.m == nil {
		fs.m = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	fs.m[key] = f
	return f, true
}

func (fs *flights) end(key string, f *flight) {
	fs.mu.Lock()
	delete(fs.m, key)
	fs.mu.Unlock()
	close(f.done)
}

// cached reports whether the cache stage takes the request.
func (h *Host) cached(r *http.Request, rt *route) bool {
	return h.cache != nil && rt != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && rt.cacheRule != cache.Never
}

// cacheKey names the response to r: the app, its version, the host name
// and the request target.
func (h *Host) cacheKey(r *http.Request, s *generation) string {
	return h.opts.AppName + "\x00" + s.version + "\x00" + strings.ToLower(r.Host) + "\x00" + r.URL.RequestURI()
}

// tagKey puts a tag in the app's namespace.
func (h *Host) tagKey(tag string) string { return h.opts.AppName + "\x00" + tag }

// serveCached answers r from the cache, or through next (the middleware
// and the route) when it must, storing the answer when it may be stored.
func (h *Host) serveCached(rec *recorder, r *http.Request, s *generation, rt *route, next func(*recorder)) {
	key := h.cacheKey(r, s)
	state := cache.Miss
	if on := h.opts.OnCache; on != nil {
		defer func() { on(rt.Pattern, state.String()) }()
	}
	// A route that caches only by its responses is looked up once one of
	// them has been stored, so dynamic routes cost no lookup.
	if rt.cacheRule != cache.ByResponse || rt.cacheStored.Load() {
		waited := false
		for {
			var e *cache.Entry
			e, state = h.lookup(r, key)
			if state != cache.Miss {
				writeEntry(rec, r, e, state)
				if state == cache.Stale {
					h.regenerate(r, s, rt, key)
				}
				return
			}
			if r.Method == http.MethodHead || waited {
				break
			}
			f, lead := h.flights.join(key)
			if lead {
				defer func() { h.flights.end(key, f) }()
				h.generate(rec, r, rt, key, f, next)
				return
			}
			// Another request is generating the entry: wait for it, then
			// look again, unless what it answered was not stored.
			select {
			case <-f.done:
			case <-r.Context().Done():
				return
			}
			if !f.stored {
				break
			}
			waited = true
		}
	}
	h.generate(rec, r, rt, key, nil, next)
}

// lookup returns the entry for r under key and what to make of it. A store
// that fails is a miss.
func (h *Host) lookup(r *http.Request, key string) (*cache.Entry, cache.State) {
	ctx := r.Context()
	e, err := h.cache.Get(ctx, key)
	if err != nil {
		h.cacheError("cache read failed; serving without the cache", err)
		return nil, cache.Miss
	}
	if e == nil || !e.Matches(r.Header) {
		return nil, cache.Miss
	}
	if !e.Shared && (r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "") {
		return nil, cache.Miss
	}
	tags, err := h.cache.Tags(ctx, e.Tags)
	if err != nil {
		h.cacheError("cache read failed; serving without the cache", err)
		return nil, cache.Miss
	}
	return e, e.State(time.Now(), tags)
}

// writeEntry answers from an entry; a hit never enters a guest.
func writeEntry(w http.ResponseWriter, r *http.Request, e *cache.Entry, state cache.State) {
	hdr := w.Header()
	for k, v := range e.Header {
		hdr[k] = v
	}
	hdr.Set(cacheHeader, state.String())
	hdr.Set("Age", e.Age(time.Now()))
	if e.Status != http.StatusNoContent && e.Status >= 200 {
		hdr.Set("Content-Length", strconv.Itoa(len(e.Body)))
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Body)
	}
}

// generate serves r through next, capturing the answer, and stores it if
// it may be stored; f, if not nil, is the flight it leads.
func (h *Host) generate(rec *recorder, r *http.Request, rt *route, key string, f *flight, next func(*recorder)) {
	start := time.Now()
	cw := &capture{ResponseWriter: rec, rt: rt, req: r.Header, max: h.opts.MaxCacheEntryBytes, keep: r.Method == http.MethodGet}
	inner := &recorder{ResponseWriter: cw}
	next(inner)
	rec.closeConn = rec.closeConn || inner.closeConn
	rec.aborted = rec.aborted || inner.aborted
	if h.store(r, rt, key, cw, inner, start) && f != nil {
		f.stored = true
	}
}

// store keeps what cw captured under key, if it may be kept: it returns
// whether it did.
func (h *Host) store(r *http.Request, rt *route, key string, cw *capture, inner *recorder, start time.Time) bool {
	if !cw.keep || inner.aborted || cw.status == 0 {
		return false
	}
	if err := cache.CheckTags(inner.tags); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "response not cached", slog.String("route", rt.Pattern),
			slog.String("path", r.URL.Path), slog.String("reason", err.Error()))
		return false
	}
	fresh, stale, ok := cache.Lifetime(rt.cacheRule, rt.Config.Revalidate, cw.header)
	if !ok {
		return false
	}
	tags := make([]string, 0, len(inner.tags)+2)
	for _, t := range inner.tags {
		tags = append(tags, h.tagKey(t))
	}
	tags = append(tags, h.tagKey(cache.PathTag(r.URL.Path)), h.tagKey(cache.AppTag))
	e := &cache.Entry{Status: cw.status, Header: cw.header, Body: bytes.Clone(cw.body.Bytes()), Stored: start,
		Fresh: fresh, Stale: stale, Tags: tags, Vary: cache.VaryOn(r.Header, cw.header), Shared: cw.shared}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), cacheWriteTimeout)
	defer cancel()
	if err := h.cache.Set(ctx, key, e); err != nil {
		h.cacheError("cache write failed; the answer is not kept", err)
		return false
	}
	rt.cacheStored.Store(true)
	return true
}

// cacheWriteTimeout bounds storing an entry after its response is sent.
const cacheWriteTimeout = 2 * time.Second

// regenerate calls the route again in the background for a stale entry,
// once at a time per key: in this process through a flight, across hosts
// through the store's lease. The call runs the middleware and the route as
// a request would, and stores what it answers.
func (h *Host) regenerate(r *http.Request, s *generation, rt *route, key string) {
	f, lead := h.flights.join(key)
	if !lead {
		return
	}
	h.life.RLock()
	if h.closed {
		h.life.RUnlock()
		h.flights.end(key, f)
		return
	}
	h.bg.Add(1)
	h.life.RUnlock()
	limit := rt.maxDuration + 5*time.Second
	req := r.Clone(context.Background())
	req.Method, req.Body, req.ContentLength = http.MethodGet, http.NoBody, 0
	// The entry is for everyone: the regeneration carries no one's
	// credentials (as Next.js regenerates ISR pages without the visitor's
	// cookies), so its answer can be stored.
	req.Header.Del("Authorization")
	req.Header.Del("Cookie")
	go func() {
		defer h.bg.Done()
		defer h.flights.end(key, f)
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		release, ok, err := h.cache.Lease(ctx, key, limit)
		if err != nil {
			h.cacheError("cache lease failed", err)
			return
		}
		if !ok {
			return // another host regenerates it
		}
		defer release()
		req = req.WithContext(ctx)
		start := time.Now()
		id := h.reqBase + strconv.FormatUint(h.reqSeq.Add(1), 36)
		rec := &recorder{ResponseWriter: &discard{header: http.Header{}}}
		cw := &capture{ResponseWriter: rec, rt: rt, req: req.Header, max: h.opts.MaxCacheEntryBytes, keep: true}
		inner := &recorder{ResponseWriter: cw}
		c := getCall()
		defer putCall(c)
		path := req.URL.EscapedPath()
		h.serveMatched(c, inner, rec.ResponseWriter, req, s, s.match(c, path), path, id)
		stored := h.store(req, rt, key, cw, inner, start)
		f.stored = stored
		h.log.LogAttrs(ctx, slog.LevelInfo, "revalidated", slog.String("request_id", id), slog.String("path", req.URL.Path),
			slog.String("route", rt.Pattern), slog.Int("status", inner.statusOr200()), slog.Bool("stored", stored),
			slog.Duration("duration", time.Since(start)))
	}()
}

// cacheErrorEvery is how often a failing cache store is logged: a store
// that is down fails every request, and one line says so.
const cacheErrorEvery = 10 * time.Second

// cacheErrors counts the cache failures not logged since the last line.
type cacheErrors struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// cacheError logs a store that failed, at most once every
// cacheErrorEvery; the request goes on as a miss.
func (h *Host) cacheError(msg string, err error) {
	ce := &h.cacheErrs
	ce.mu.Lock()
	now := time.Now()
	if now.Sub(ce.last) < cacheErrorEvery {
		ce.suppressed++
		ce.mu.Unlock()
		return
	}
	n := ce.suppressed
	ce.last, ce.suppressed = now, 0
	ce.mu.Unlock()
	h.log.Warn(msg, slog.String("error", err.Error()), slog.Int("not_logged_since", n))
}

// capture passes a response on to the client while it keeps a copy of
// it, as long as it may be stored and fits. The guest's cache tags reach
// the recorder above it (recorder.tags), not the client.
type capture struct {
	http.ResponseWriter
	rt     *route
	req    http.Header // the request's headers
	max    int64
	keep   bool // still a candidate for the cache
	shared bool
	status int
	header http.Header // what is stored: the head as sent, but the host's own
	body   bytes.Buffer
}

func (c *capture) WriteHeader(status int) {
	if c.status != 0 || status < 200 {
		c.ResponseWriter.WriteHeader(status)
		return
	}
	c.status = status
	hdr := c.ResponseWriter.Header()
	hdr.Set(cacheHeader, "MISS")
	if cc := cache.CacheControl(c.rt.cacheRule, c.rt.Config.Revalidate); cc != "" && hdr.Get("Cache-Control") == "" {
		hdr.Set("Cache-Control", cc)
	}
	if c.keep {
		var why string
		c.shared, why = cache.Storable(c.rt.cacheRule, status, c.req, hdr)
		if _, _, timed := cache.Lifetime(c.rt.cacheRule, c.rt.Config.Revalidate, hdr); why != "" || !timed {
			c.keep = false // not kept: the body is not copied either
		} else {
			c.header = hdr.Clone()
			for _, name := range []string{cacheHeader, "Age", "Date", "Content-Length", "Connection", "Transfer-Encoding"} {
				c.header.Del(name)
			}
		}
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.keep {
		if int64(c.body.Len()+len(p)) > c.max {
			c.keep = false // served, not stored
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(p)
		}
	}
	return c.ResponseWriter.Write(p)
}

// FlushError passes a flush on; http.ResponseController uses it.
func (c *capture) FlushError() error { return http.NewResponseController(c.ResponseWriter).Flush() }

// Flush implements http.Flusher.
func (c *capture) Flush() { _ = c.FlushError() }

// Unwrap lets http.ResponseController reach the writer underneath.
func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// discard is the client of a background regeneration: no one.
type discard struct{ header http.Header }

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}
