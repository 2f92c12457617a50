package host

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

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
		if on := h.opts.OnRequest; on != nil {
			on(pattern, rec.statusOr200(), time.Since(start))
		}
		if p != nil {
			panic(p)
		}
	}()

	s := h.state.Load()
	setClientDeadline(w, r.ContentLength != 0, start.Add(s.maxDuration))
	// The stages, in order: limits, clean, match, cache (GET and HEAD),
	// middleware, then for the route serveRoute's CORS, methods, body
	// limit and invoke. Each lives in the file named for it.
	if !h.checkLimits(rec, r, s, id) {
		return
	}
	path := r.URL.EscapedPath()
	if redirectUnclean(rec, r, path) {
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
	if h.cached(r, rt) {
		pattern = rt.Pattern
		h.serveCached(rec, r, s, rt, func(rec *recorder) { h.serveMatched(c, rec, w, r, s, rt, path, id) })
		return
	}
	pattern = h.serveMatched(c, rec, w, r, s, rt, path, id)
}

// serveMatched serves a request matched to rt (nil: none) on c: the
// middleware, if it runs for the path, then the route. It returns the
// pattern of the route that served it.
func (h *Host) serveMatched(c *call, rec *recorder, w http.ResponseWriter, r *http.Request, s *generation, rt *route, path, id string) string {
	if s.middleware != nil && s.matcher.Match(path) {
		if inlineMiddleware(rt, r) {
			// The route's module runs the middleware and the handler in one
			// call; it comes back only for a rewrite.
			c.withMiddleware = true
			pattern := h.serveRoute(c, rec, w, r, s, rt, id)
			if c.headSent || !c.nextSet || !h.applyNext(rec, r, &c.next, id) {
				return pattern
			}
		} else if !h.runMiddleware(rec, r, s.middleware, id) {
			return "" // the middleware answered
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
	return h.serveRoute(c, rec, w, r, s, rt, id)
}

// serveRoute serves the request from rt's module (matched by s.match into
// c), or answers 404 (rt nil), 405, OPTIONS, a CORS preflight or 413 itself.
// It returns the route's pattern, or "" when no route matched.
func (h *Host) serveRoute(c *call, rec *recorder, w http.ResponseWriter, r *http.Request, s *generation, rt *route, id string) string {
	if rt == nil {
		writeError(rec, http.StatusNotFound, "Not Found")
		return ""
	}
	if s.cors != nil && s.cors.handle(h, rec, r, rt, id) {
		return rt.Pattern
	}
	if answerMethods(rec, r, rt) {
		return rt.Pattern
	}
	if !h.checkBody(rec, w, r, rt, id) {
		return rt.Pattern
	}
	c.init(h, rt, id, rec, r)
	h.invoke(c)
	return rt.Pattern
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
	// tags are the cache tags the guest put on the response
	// (guest.CacheTag), which the host keeps from the client.
	tags []string
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
