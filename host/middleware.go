package host

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
)

// runMiddleware runs the app's middleware for r. It returns false when the
// middleware answered (or failed, and the host answered 500); true when the
// request goes on, with r's headers and URL as the middleware left them and
// its response headers already on w.
func (h *Host) runMiddleware(w *recorder, r *http.Request, mw *route, id string) bool {
	c := getCall()
	defer putCall(c)
	c.middleware = true
	c.init(h, mw, id, w, r)
	h.invoke(c)
	if c.headSent || !c.nextSet {
		return false // the middleware answered, or failed and invoke answered 500
	}
	return h.applyNext(w, r, &c.next, id)
}

// applyNext applies a middleware's result to the request and response: the
// request headers it left, the response headers it added, and its rewrite.
// It returns false when it answered 500 for a rewrite it refused.
func (h *Host) applyNext(w *recorder, r *http.Request, next *abi.MiddlewareNext, id string) bool {
	hdr := make(http.Header, len(next.RequestHeader)/2)
	for i := 0; i+1 < len(next.RequestHeader); i += 2 {
		hdr.Add(next.RequestHeader[i], next.RequestHeader[i+1])
	}
	r.Header = hdr
	out := w.Header()
	for i := 0; i+1 < len(next.ResponseHeader); i += 2 {
		out.Add(next.ResponseHeader[i], next.ResponseHeader[i+1])
	}
	if rw := next.RewriteURI; rw != "" {
		u, err := url.ParseRequestURI(rw)
		if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			h.log.Error("middleware rewrite refused", slog.String("request_id", id), slog.String("rewrite", rw))
			writeError(w, http.StatusInternalServerError, "Internal Server Error")
			return false
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		r.RequestURI = u.RequestURI()
	}
	return true
}

// middlewareNext receives a middleware's decision to let the request go on.
func middlewareNext(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	if c == nil || !(c.middleware || c.withMiddleware) || c.headSent || c.nextSet {
		result(stack, abi.ErrState)
		return
	}
	buf, ok := c.guestBytes(mod, abi.FuncMiddlewareNext, uint32(stack[0]), uint32(stack[1]), stack)
	if !ok {
		return
	}
	if err := c.next.Decode(string(buf)); err != nil {
		c.refuse("malformed middleware result")
		result(stack, abi.ErrInvalid)
		return
	}
	for _, pairs := range [][]string{c.next.RequestHeader, c.next.ResponseHeader} {
		for i := 0; i+1 < len(pairs); i += 2 {
			if !validHeaderName(pairs[i]) || !validHeaderValue(pairs[i+1]) {
				c.refuse("invalid header " + pairs[i] + " from middleware")
				result(stack, abi.ErrInvalid)
				return
			}
		}
	}
	c.nextSet = true
	result(stack, 0)
}

// inlineMiddleware reports whether rt's module will run the middleware
// with the route's handler for r, in one call: rt serves r's method and
// accepts its declared body size. For any other request (no route, 405,
// automatic OPTIONS, a CORS preflight, 413) the host answers without the
// route, so the middleware runs alone first.
func inlineMiddleware(rt *route, r *http.Request) bool {
	return rt != nil && rt.withMiddleware && rt.methods.serves(methodBit(r.Method)) && r.ContentLength <= rt.bodyLimit
}
