//go:build wasip1

package guest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"unsafe"

	"github.com/wasmroute/wasmroute/abi"
)

//go:wasmimport wasmroute read_request_head
func hostReadRequestHead(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute read_body
func hostReadBody(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute write_response_head
func hostWriteResponseHead(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute write_body
func hostWriteBody(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute respond
func hostRespond(head unsafe.Pointer, headLen uint32, body unsafe.Pointer, bodyLen uint32) int32

//go:wasmimport wasmroute flush
func hostFlush() int32

//go:wasmimport wasmroute log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

// hostPoll lets the host stop a request past its time limit. The build calls
// it from every loop; handle calls it once so the linker keeps the import.
//
//go:wasmimport wasmroute poll
func hostPoll()

//go:wasmimport wasmroute handler_done
func hostHandlerDone()

//go:wasmimport wasmroute middleware_next
func hostMiddlewareNext(ptr unsafe.Pointer, n uint32) int32

// abiVersion is the export that declares which ABI this module speaks.
//
//go:wasmexport wasmroute_abi_v3
func abiVersion() {}

// bodyChunk is how many response bytes the writer collects before it sends
// them to the host. A response that fits is sent whole in one call, and the
// host gives it a Content-Length.
const bodyChunk = 16 << 10

// state is reused from request to request: an instance serves one request at
// a time, so these buffers never alias a live request.
var state struct {
	headBuf []byte
	head    abi.RequestHead
	bufs    writerBufs
	next    abi.MiddlewareNext
	nextEnc []byte
}

// handle serves one request. The host calls it with the index of the route
// in the app's manifest (or abi.NoRoute), the size of the encoded request
// head, and the abi.Flag bits.
//
// Goroutines do not run between calls, so one the handler left behind would
// run during a later request, on another client's time. So when the handler
// returned and goroutines remain, the guest tells the host the response is
// complete, lets them run to their end for a moment, and asks the host to
// retire the instance if any are still there (abi.HandleRetire).
//
//go:wasmexport wasmroute_handle
func handle(route, headLen, flags uint32) uint32 {
	before := runtime.NumGoroutine()
	result := handleRequest(route, headLen, flags)
	if runtime.NumGoroutine() <= before {
		return result
	}
	hostHandlerDone()
	for i := 0; i < 3 && runtime.NumGoroutine() > before; i++ {
		runtime.Gosched()
	}
	if left := runtime.NumGoroutine() - before; left > 0 {
		result |= abi.HandleRetire | uint32(min(left, 0xffff))<<abi.HandleLeftShift
	}
	return result
}

func handleRequest(route, headLen, flags uint32) uint32 {
	hostPoll()
	if uint32(cap(state.headBuf)) < headLen {
		state.headBuf = make([]byte, headLen)
	}
	buf := state.headBuf[:headLen]
	if n := hostReadRequestHead(bufPtr(buf), headLen); n != int32(headLen) {
		logf(abi.LogError, "wasmroute: host sent a request head of %d bytes, announced %d", n, headLen)
		return abi.HandleAborted
	}
	// One copy: every string in the request is a substring of src, and may be
	// kept by the handler after it returns.
	src := string(buf)
	h := &state.head
	if err := h.Decode(src); err != nil {
		logf(abi.LogError, "wasmroute: %v", err)
		return abi.HandleAborted
	}
	w := newWriter(h.Method == http.MethodHead)
	defer w.close()
	r, err := newRequest(h)
	if err != nil {
		Error(w, http.StatusBadRequest, "Bad Request")
		return w.finish()
	}
	switch {
	case middleware != nil && flags&abi.FlagMiddleware != 0 && route == abi.NoRoute:
		return serveMiddleware(w, r)
	case middleware != nil && flags&abi.FlagMiddleware != 0:
		return serveMiddlewareThenRoute(w, r, route)
	}
	return serve(w, r, route)
}

// serveMiddlewareThenRoute runs the middleware, then the route's handler in
// the same call when the middleware let the request go on unchanged. A
// rewrite goes back to the host, which routes the request again.
func serveMiddlewareThenRoute(w *responseWriter, r *http.Request, route uint32) uint32 {
	panicked, result := false, uint32(0)
	func() {
		defer func() {
			if p := recover(); p != nil {
				panicked, result = true, w.recoverFrom(p)
			}
		}()
		middleware.ServeHTTP(w, r)
	}()
	switch {
	case panicked:
		return result
	case w.status != 0 || w.headSent || w.written > 0:
		return w.finish() // the middleware answered
	}
	if len(w.header[RewriteHeader]) > 0 {
		return reportNext(w, r)
	}
	// The route's handler starts from the middleware's response headers; a
	// panic in it keeps them, as when the host applies them.
	w.base = w.header.Clone()
	return serve(w, r, route)
}

// serveMiddleware runs the middleware. If it wrote nothing, the request goes
// on: the host learns the headers and rewrite to apply.
func serveMiddleware(w *responseWriter, r *http.Request) (result uint32) {
	defer func() {
		if p := recover(); p != nil {
			result = w.recoverFrom(p)
		}
	}()
	middleware.ServeHTTP(w, r)
	if w.status != 0 || w.headSent || w.written > 0 {
		return w.finish()
	}
	return reportNext(w, r)
}

// reportNext tells the host how the request goes on after the middleware:
// its rewrite, the request headers, and the response headers to add.
func reportNext(w *responseWriter, r *http.Request) uint32 {
	next := &state.next
	next.RewriteURI = w.header.Get(RewriteHeader)
	w.header.Del(RewriteHeader)
	next.RequestHeader = appendPairs(next.RequestHeader[:0], r.Header)
	next.ResponseHeader = appendPairs(next.ResponseHeader[:0], w.header)
	state.nextEnc = next.AppendEncode(state.nextEnc[:0])
	if rc := hostMiddlewareNext(bufPtr(state.nextEnc), uint32(len(state.nextEnc))); rc < 0 {
		logf(abi.LogError, "wasmroute: the host refused the middleware's result (%d)", rc)
		return abi.HandleAborted
	}
	return abi.HandleOK
}

// appendPairs flattens a header into name/value pairs.
func appendPairs(dst []string, h http.Header) []string {
	for name, values := range h {
		for _, v := range values {
			dst = append(dst, name, v)
		}
	}
	return dst
}

func serve(w *responseWriter, r *http.Request, route uint32) (result uint32) {
	defer func() {
		if p := recover(); p != nil {
			result = w.recoverFrom(p)
		}
	}()
	h := handlerFor(route, r.Method)
	switch {
	case h != nil:
		h.ServeHTTP(w, r)
	case !serves(route):
		// The host calls a module only for its own routes; this only
		// happens if the manifest and the module disagree.
		logf(abi.LogError, "wasmroute: this module serves no route %d", route)
		Error(w, http.StatusInternalServerError, "Internal Server Error")
	default:
		// The host answers unknown methods from the manifest; this only
		// happens if the two disagree.
		Error(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
	return w.finish()
}

func newRequest(h *abi.RequestHead) (*http.Request, error) {
	u, err := parseURI(h.URI)
	if err != nil {
		return nil, err
	}
	major, minor, ok := http.ParseHTTPVersion(h.Proto)
	if !ok {
		major, minor = 1, 1
	}
	r := &http.Request{
		Method:        h.Method,
		URL:           u,
		Proto:         h.Proto,
		ProtoMajor:    major,
		ProtoMinor:    minor,
		Header:        makeHeader(h.Header),
		ContentLength: h.ContentLength,
		Host:          h.Host,
		RemoteAddr:    h.RemoteAddr,
		RequestURI:    h.URI,
	}
	if h.ContentLength == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = &bodyReader{}
	}
	for i := 0; i+1 < len(h.Params); i += 2 {
		r.SetPathValue(h.Params[i], h.Params[i+1])
	}
	return r, nil
}

// parseURI builds the request URL. The common case, a path without escapes,
// is built by hand; anything else goes through url.ParseRequestURI.
func parseURI(uri string) (*url.URL, error) {
	path, query, _ := strings.Cut(uri, "?")
	if strings.HasPrefix(path, "/") && !strings.ContainsAny(path, "%#") {
		return &url.URL{Path: path, RawQuery: query}, nil
	}
	return url.ParseRequestURI(uri)
}

// makeHeader builds an http.Header from name/value pairs with one allocation
// for all the value slices.
func makeHeader(pairs []string) http.Header {
	n := len(pairs) / 2
	hdr := make(http.Header, n)
	values := make([]string, n)
	for i := 0; i < n; i++ {
		name, value := pairs[2*i], pairs[2*i+1]
		if prev, ok := hdr[name]; ok {
			hdr[name] = append(prev, value)
			continue
		}
		values[i] = value
		hdr[name] = values[i : i+1 : i+1]
	}
	return hdr
}

// bodyReader streams the request body from the host.
type bodyReader struct{ done bool }

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := hostReadBody(bufPtr(p), uint32(len(p)))
	switch {
	case n > 0:
		return int(n), nil
	case n == 0:
		b.done = true
		return 0, io.EOF
	case n == abi.ErrBodyTooLarge:
		return 0, &http.MaxBytesError{}
	default:
		return 0, fmt.Errorf("wasmroute: reading request body: %w", io.ErrUnexpectedEOF)
	}
}

func (b *bodyReader) Close() error { b.done = true; return nil }

// responseWriter buffers up to bodyChunk bytes, then streams to the host.
type responseWriter struct {
	header      http.Header
	status      int   // 0 until WriteHeader
	headSent    bool  // the head went to the host
	discardBody bool  // HEAD request
	written     int64 // body bytes the handler wrote
	buf         []byte
	headEnc     []byte
	respHead    abi.ResponseHead
	err         error       // first host error; later writes fail with it
	done        bool        // the handler returned; writes fail
	base        http.Header // headers a panic starts over from (the middleware's)
}

// writerBufs are the buffers a request's writer borrows and gives back when
// the handler returns, so they are reused without being shared.
type writerBufs struct {
	buf, headEnc []byte
	pairs        []string
}

// newWriter makes the writer of one request. Each request gets its own, so
// a goroutine the handler left behind that writes later hits a closed writer,
// never the next request's response.
func newWriter(discardBody bool) *responseWriter {
	b := &state.bufs
	w := &responseWriter{
		header:      make(http.Header),
		discardBody: discardBody,
		buf:         b.buf[:0],
		headEnc:     b.headEnc[:0],
		respHead:    abi.ResponseHead{Header: b.pairs[:0]},
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, bodyChunk)
	}
	return w
}

// close ends the writer's request and returns its buffers.
func (w *responseWriter) close() {
	w.done = true
	state.bufs = writerBufs{w.buf[:0], w.headEnc[:0], w.respHead.Header[:0]}
	w.buf, w.headEnc, w.respHead.Header = nil, nil, nil
}

// errWriteAfterReturn is what a write to a finished request's writer gets.
var errWriteAfterReturn = errors.New("wasmroute: write to a response after its handler returned")

// Header implements http.ResponseWriter.
func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter. Like net/http, only the first
// call counts.
func (w *responseWriter) WriteHeader(status int) {
	if w.status != 0 || w.done {
		return
	}
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", status))
	}
	if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
		// An informational response (103 Early Hints) goes out at once with
		// the headers set so far, as with net/http; the final one follows.
		if w.err == nil {
			if rc := hostWriteResponseHead(w.encodeHead(status)); rc < 0 {
				w.err = fmt.Errorf("wasmroute: host refused the informational response (%d)", rc)
			}
		}
		return
	}
	w.status = status
}

// Write implements http.ResponseWriter.
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.done {
		logf(abi.LogWarn, "%v (%d bytes dropped)", errWriteAfterReturn, len(p))
		return 0, errWriteAfterReturn
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if len(w.buf)+len(p) <= cap(w.buf) {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if err := w.sendBuffered(); err != nil {
		return 0, err
	}
	if len(p) >= cap(w.buf) {
		if err := w.sendBody(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush implements http.Flusher: everything written so far reaches the client.
func (w *responseWriter) Flush() {
	if w.done {
		return
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.sendBuffered() == nil {
		if rc := hostFlush(); rc < 0 {
			w.err = fmt.Errorf("wasmroute: flushing response: host returned %d", rc)
		}
	}
}

// sendBuffered sends the head if needed and the buffered body bytes.
func (w *responseWriter) sendBuffered() error {
	if err := w.sendHead(); err != nil {
		return err
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.sendBody(w.buf)
	w.buf = w.buf[:0]
	return err
}

func (w *responseWriter) sendBody(p []byte) error {
	if w.err != nil || w.discardBody {
		// A HEAD response that streams has no length; a whole one is sent
		// with its body, which the host measures and drops.
		return w.err
	}
	if rc := hostWriteBody(bufPtr(p), uint32(len(p))); rc < 0 {
		w.err = fmt.Errorf("wasmroute: writing response body: host returned %d", rc)
	}
	return w.err
}

// sendHead starts a streamed response.
func (w *responseWriter) sendHead() error {
	if w.headSent || w.err != nil {
		return w.err
	}
	w.headSent = true
	if rc := hostWriteResponseHead(w.encodeHead(w.status)); rc < 0 {
		w.err = fmt.Errorf("wasmroute: host refused the response head (%d)", rc)
	}
	return w.err
}

// encodeHead encodes a response head with status and the headers set so
// far, and returns it for a host call. Content-Length is the host's to set
// (it computes it for a whole response), so a handler's own is not sent.
func (w *responseWriter) encodeHead(status int) (unsafe.Pointer, uint32) {
	rh := &w.respHead
	rh.Status = status
	rh.Header = rh.Header[:0]
	for name, values := range w.header {
		if name == "Content-Length" {
			continue
		}
		for _, v := range values {
			rh.Header = append(rh.Header, name, v)
		}
	}
	w.headEnc = rh.AppendEncode(w.headEnc[:0])
	return bufPtr(w.headEnc), uint32(len(w.headEnc))
}

// finish completes the response after the handler returned. A response
// still in the buffer goes out whole, in one host call.
func (w *responseWriter) finish() uint32 {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent && w.err == nil {
		w.headSent = true
		head, headLen := w.encodeHead(w.status)
		if rc := hostRespond(head, headLen, bufPtr(w.buf), uint32(len(w.buf))); rc < 0 {
			w.err = fmt.Errorf("wasmroute: host refused the response (%d)", rc)
		}
		w.buf = w.buf[:0]
	}
	if w.sendBuffered() != nil {
		return abi.HandleAborted
	}
	return abi.HandleOK
}

// recoverFrom turns a handler panic into a 500, or an aborted stream when the
// head is already on its way to the client.
func (w *responseWriter) recoverFrom(p any) uint32 {
	if p != http.ErrAbortHandler {
		// One record: the message, then the frames of the app's code.
		logf(abi.LogError, "panic serving request: %v\n%s", p, panicTrace(debug.Stack()))
	}
	if w.headSent {
		return abi.HandleAborted
	}
	// Start the response over: headers and body the handler wrote before
	// panicking must not leak into the 500.
	hdr := make(http.Header)
	if w.base != nil {
		hdr = w.base
	}
	w.header, w.status, w.written, w.buf = hdr, 0, 0, w.buf[:0]
	Error(w, http.StatusInternalServerError, "Internal Server Error")
	return w.finish()
}

func bodyAllowed(status int) bool {
	return (status < 100 || status > 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

func logf(level int32, format string, args ...any) {
	msg := []byte(fmt.Sprintf(format, args...))
	hostLog(level, bufPtr(msg), uint32(len(msg)))
}

func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}
