package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmroute/wasmroute/abi"
)

var randReader io.Reader = rand.Reader

// instance is one initialised guest module. It serves one request at a time.
type instance struct {
	pool *pool
	mod  api.Module
	// wasi is the instance's own WASI system when its module uses the
	// network (see network_unix.go); wasiCtx carries it to host functions.
	wasi    io.Closer
	wasiCtx context.Context
	handle  api.Function
	stack   []uint64
	cur     *call // the request being served, for guest output
	stdout  *guestOutput
	stderr  *guestOutput
}

func (i *instance) close() {
	if i.mod != nil {
		i.mod.Close(context.Background())
	}
	if i.wasi != nil {
		i.wasi.Close()
	}
}

// call is the state of one request while the guest serves it. Host functions
// find it through the context they are called with.
type call struct {
	context.Context
	h     *Host
	route *route
	id    string
	w     *recorder
	r     *http.Request

	head        abi.RequestHead
	headEnc     []byte
	respHead    abi.ResponseHead
	headSent    bool
	bodyDone    bool
	failed      bool // writing to the client failed
	tooLarge    bool // the body passed the route's limit
	answered413 bool
	deadline    time.Time // MaxDuration from the start of the guest call
	timedOut    bool
	// next is set when a middleware lets the request continue.
	next       abi.MiddlewareNext
	nextSet    bool
	middleware bool // this call runs the middleware module: no request body
	refusals   int  // out-of-bounds calls so far (outOfBounds)
	// slotHeld is whether the call holds a CPU slot, since slotSince.
	slotHeld  bool
	slotSince time.Time
	// wasiCtx is the instance's WASI system, for modules using the network.
	wasiCtx context.Context
	// withMiddleware is set when the route module runs the middleware
	// itself before the handler (abi.FlagMiddleware).
	withMiddleware bool
	// kvStash holds a value kv_get found too large for the guest's buffer,
	// for the guest's second call.
	kvStashKey string
	kvStash    []byte
}

type callKey struct{}

// Value implements context.Context, so host functions can find the call.
func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	if c.wasiCtx != nil {
		if v := c.wasiCtx.Value(key); v != nil {
			return v
		}
	}
	return c.Context.Value(key)
}

var callPool = sync.Pool{New: func() any { return new(call) }}

func getCall() *call { return callPool.Get().(*call) }

func putCall(c *call) {
	*c = call{
		head:     abi.RequestHead{Params: c.head.Params[:0], Header: c.head.Header[:0]},
		headEnc:  c.headEnc[:0],
		respHead: abi.ResponseHead{Header: c.respHead.Header[:0]},
		next:     abi.MiddlewareNext{RequestHeader: c.next.RequestHeader[:0], ResponseHeader: c.next.ResponseHeader[:0]},
	}
	callPool.Put(c)
}

func (c *call) init(h *Host, rt *route, id string, w *recorder, r *http.Request) {
	c.Context = r.Context()
	c.h, c.route, c.id, c.w, c.r = h, rt, id, w, r
	hd := &c.head
	hd.Method = r.Method
	hd.URI = r.RequestURI
	if hd.URI == "" {
		hd.URI = r.URL.RequestURI()
	}
	hd.Proto = r.Proto
	hd.Host = r.Host
	hd.RemoteAddr = r.RemoteAddr
	hd.ContentLength = r.ContentLength
	if r.Body == nil || r.Body == http.NoBody || c.middleware {
		hd.ContentLength = 0 // a middleware sees headers only
	}
	for name, values := range r.Header {
		for _, v := range values {
			hd.Header = append(hd.Header, name, v)
		}
	}
	c.headEnc = hd.AppendEncode(c.headEnc[:0])
}

// invoke serves the call on an instance of its route.
func (h *Host) invoke(c *call) {
	p := c.route.pool
	inst, err := p.get(c)
	if err != nil {
		if c.Err() != nil {
			return // the client went away while waiting
		}
		if errors.Is(err, errSaturated) {
			h.log.Warn("route saturated", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
				slog.Duration("waited", h.opts.QueueTimeout))
			c.w.Header().Set("Retry-After", "1")
			writeError(c.w, http.StatusServiceUnavailable, "Service Unavailable")
			c.headSent = true
			return
		}
		h.log.Error("no instance for route", slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("error", err.Error()))
		c.fail()
		return
	}
	inst.cur = c
	c.wasiCtx = inst.wasiCtx
	p.calls.Add(1)
	inst.stack[0] = uint64(len(c.headEnc))
	inst.stack[1] = 0
	if c.withMiddleware {
		inst.stack[1] = abi.FlagMiddleware
	}
	// The guest runs until it returns or MaxDuration passes: the poll host
	// function, which the build makes every loop call, stops it then. A
	// client that goes away does not stop it (its writes just fail), so a
	// disconnect never costs an instance.
	c.deadline = time.Now().Add(c.route.maxDuration)
	if h.opts.CloseOnContextDone {
		err = callWithDeadline(c, inst)
	} else {
		c.acquireCPU()
		err = inst.handle.CallWithStack(c, inst.stack)
		c.releaseCPU()
	}
	timedOut := c.timedOut
	inst.stdout.flush()
	inst.stderr.flush()
	inst.cur = nil
	res := uint32(inst.stack[0])
	healthy := err == nil
	if healthy && inst.mod.Memory().Size() > h.opts.RecycleMemory {
		healthy = false // Go guests never shrink; start afresh
	}
	p.put(inst, healthy) // inst belongs to the pool again from here on
	if err != nil && timedOut {
		h.log.Error("guest exceeded its time limit; instance discarded", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.Duration("max_duration", c.route.maxDuration))
		if !c.headSent {
			writeError(c.w, http.StatusGatewayTimeout, "Gateway Timeout")
			c.headSent = true
			return
		}
		c.fail()
		return
	}
	if err != nil {
		h.log.Error("guest failed; instance discarded", slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("error", err.Error()))
		c.fail()
		return
	}
	switch {
	case c.answered413, c.nextSet && !c.headSent && res == abi.HandleOK:
	case c.tooLarge && !c.headSent:
		c.answerTooLarge()
	case res != abi.HandleOK || !c.headSent:
		c.fail()
	}
}

// answerTooLarge sends the 413 for a body that passed the route's limit.
func (c *call) answerTooLarge() {
	c.headSent = true
	c.answered413 = true
	c.failed = true // the guest's own body must not follow
	c.w.Header().Set("Connection", "close")
	writeError(c.w, http.StatusRequestEntityTooLarge, "Request body too large")
}

// fail ends a request the guest could not complete: a 500 if nothing was sent
// yet, otherwise an aborted connection, so the client cannot take a cut-off
// body for a whole one.
func (c *call) fail() {
	switch {
	case !c.headSent:
		writeError(c.w, http.StatusInternalServerError, "Internal Server Error")
		c.headSent = true
	case c.failed || c.Err() != nil:
		// The client is gone; there is no connection left to abort.
		c.w.aborted = true
	default:
		c.w.aborted = true
		panic(http.ErrAbortHandler)
	}
}

// callWithDeadline calls the guest with a context that ends at the call's
// deadline, for Options.CloseOnContextDone. It does not end when the client
// goes away: a disconnect never costs an instance. wazero watches the context
// from a goroutine that may outlive the call, so the context is a new one
// (host functions still find c through it), never c itself, which is reused.
func callWithDeadline(c *call, inst *instance) error {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(c), c.deadline)
	err := inst.handle.CallWithStack(ctx, inst.stack)
	cancel()
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
		c.timedOut = true
	}
	return err
}

func callFrom(ctx context.Context) *call {
	c, _ := ctx.Value(callKey{}).(*call)
	return c
}

// InstantiateImports provides WASI preview 1 and the wasmroute host functions
// (the abi package's Func names) in rt. Host.New does this for its own
// runtime; tools that instantiate guest modules themselves, such as
// benchmarks, call it on theirs. Outside a request served by a Host, the host
// functions return abi.ErrState.
func InstantiateImports(ctx context.Context, rt wazero.Runtime) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return err
	}
	return instantiateHostFunctions(ctx, rt)
}

// instantiateHostFunctions provides the wasmroute host functions in rt.
func instantiateHostFunctions(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	fn := func(name string, f api.GoModuleFunc, params, results []api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(name)
	}
	fn(abi.FuncReadRequestHead, readRequestHead, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncReadBody, readBody, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncWriteResponseHead, writeResponseHead, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncWriteBody, writeBody, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncFlush, flush, nil, []api.ValueType{i32})
	fn(abi.FuncLog, logLine, []api.ValueType{i32, i32, i32}, nil)
	fn(abi.FuncPoll, poll, nil, nil)
	fn(abi.FuncMiddlewareNext, middlewareNext, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVGet, kvGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVSet, kvSet, []api.ValueType{i32, i32, i32, i32, api.ValueTypeI64}, []api.ValueType{i32})
	fn(abi.FuncKVDelete, kvDelete, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVExists, kvExists, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVKeys, kvKeys, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	_, err := b.Instantiate(ctx)
	return err
}

func result(stack []uint64, v int32) { stack[0] = api.EncodeI32(v) }

// errTimeLimit stops a guest past its request's time limit.
var errTimeLimit = errors.New("wasmroute: request exceeded its time limit")

// poll is called from every loop of a guest now and then; past the deadline
// it stops the guest by panicking, which wazero turns into the call's error.
func poll(ctx context.Context, _ api.Module, _ []uint64) {
	c := callFrom(ctx)
	if c == nil {
		return
	}
	now := time.Now()
	if !c.deadline.IsZero() && now.After(c.deadline) {
		c.timedOut = true
		panic(errTimeLimit)
	}
	c.yieldCPU(now)
}

func readRequestHead(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if c == nil {
		result(stack, abi.ErrState)
		return
	}
	if n < uint32(len(c.headEnc)) {
		result(stack, int32(len(c.headEnc)))
		return
	}
	if !mod.Memory().Write(ptr, c.headEnc) {
		result(stack, c.outOfBounds(abi.FuncReadRequestHead, ptr, n))
		return
	}
	result(stack, int32(len(c.headEnc)))
}

func readBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if c == nil {
		result(stack, abi.ErrState)
		return
	}
	if c.bodyDone || c.r.Body == nil || c.middleware {
		result(stack, 0)
		return
	}
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		result(stack, c.outOfBounds(abi.FuncReadBody, ptr, n))
		return
	}
	for tries := 0; ; tries++ {
		held := c.pause() // the client may be slow to send
		got, err := c.r.Body.Read(buf)
		c.resume(held)
		if got > 0 {
			result(stack, int32(got))
			return
		}
		var tooLarge *http.MaxBytesError
		switch {
		case err == io.EOF:
			c.bodyDone = true
			result(stack, 0)
			return
		case errors.As(err, &tooLarge):
			if !c.tooLarge {
				c.tooLarge = true
				c.h.log.Warn("request body too large", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
					slog.Int64("limit", c.route.bodyLimit))
			}
			result(stack, abi.ErrBodyTooLarge)
			return
		case err != nil || tries > 100:
			c.h.log.Warn("reading request body", slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.Any("error", err))
			result(stack, abi.ErrIO)
			return
		}
	}
}

func writeResponseHead(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if c == nil || c.headSent {
		result(stack, abi.ErrState)
		return
	}
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		result(stack, c.outOfBounds(abi.FuncWriteResponseHead, ptr, n))
		return
	}
	if c.tooLarge {
		// Whatever the handler made of its truncated body, the client
		// learns the real reason.
		c.answerTooLarge()
		result(stack, abi.ErrBodyTooLarge)
		return
	}
	rh := &c.respHead
	if err := rh.Decode(string(buf)); err != nil {
		c.refuse("malformed response head")
		result(stack, abi.ErrInvalid)
		return
	}
	for i := 0; i < len(rh.Header); i += 2 {
		if !validHeaderName(rh.Header[i]) || !validHeaderValue(rh.Header[i+1]) {
			c.refuse("invalid response header " + strconv.Quote(rh.Header[i]))
			result(stack, abi.ErrInvalid)
			return
		}
	}
	hdr := c.w.Header()
	for i := 0; i < len(rh.Header); i += 2 {
		hdr.Add(rh.Header[i], rh.Header[i+1])
	}
	c.headSent = true
	c.w.WriteHeader(rh.Status)
	result(stack, 0)
}

// maxRefusalLogs caps the refusal lines one request can log, so a guest
// calling the host wrongly in a loop cannot flood the log.
const maxRefusalLogs = 16

// outOfBounds logs a host function call whose buffer lies outside the
// guest's linear memory, and returns the code the guest gets. The host never
// reads or writes outside that memory: wazero's Memory checks every range.
func (c *call) outOfBounds(fn string, ptr, n uint32) int32 {
	c.refusals++
	switch {
	case c.refusals < maxRefusalLogs:
		c.h.log.Warn("guest call refused", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
			slog.String("function", fn), slog.String("reason", fmt.Sprintf("buffer [%d, +%d) is outside the guest's memory", ptr, n)))
	case c.refusals == maxRefusalLogs:
		c.h.log.Warn("guest call refused; further refusals in this request are not logged", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.String("function", fn))
	}
	return abi.ErrInvalid
}

// refuse logs a guest response the host will not pass on.
func (c *call) refuse(reason string) {
	c.h.log.Warn("guest response refused", slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("reason", reason))
}

func writeBody(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	if c == nil || !c.headSent {
		result(stack, abi.ErrState)
		return
	}
	if c.failed {
		result(stack, abi.ErrIO)
		return
	}
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		result(stack, c.outOfBounds(abi.FuncWriteBody, ptr, n))
		return
	}
	if c.r.Method == http.MethodHead {
		result(stack, 0)
		return
	}
	held := c.pause() // the client may be slow to read
	_, err := c.w.Write(buf)
	c.resume(held)
	if err != nil {
		c.failed = true
		result(stack, abi.ErrIO)
		return
	}
	result(stack, 0)
}

func flush(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	if c == nil || !c.headSent {
		result(stack, abi.ErrState)
		return
	}
	held := c.pause()
	flushErr := c.w.FlushError()
	c.resume(held)
	if c.failed || flushErr != nil {
		c.failed = true
		result(stack, abi.ErrIO)
		return
	}
	result(stack, 0)
}

// maxLogLine caps one guest log line; longer ones are cut.
const maxLogLine = 16 << 10

func logLine(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	c := callFrom(ctx)
	if c == nil {
		return
	}
	n = min(n, maxLogLine)
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		c.outOfBounds(abi.FuncLog, ptr, n)
		return
	}
	c.h.log.LogAttrs(c, slog.Level(level), string(buf), slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("source", "guest"))
}

// guestOutput sends a guest's stdout or stderr to the log, a line at a time,
// tagged with the request being served.
type guestOutput struct {
	inst   *instance
	stream string
	buf    []byte
}

func (g *guestOutput) Write(p []byte) (int, error) {
	g.buf = append(g.buf, p...)
	for {
		i := bytes.IndexByte(g.buf, '\n')
		if i < 0 {
			break
		}
		g.emit(g.buf[:i])
		g.buf = g.buf[i+1:]
	}
	if len(g.buf) > maxLogLine {
		g.flush()
	}
	return len(p), nil
}

func (g *guestOutput) flush() {
	if len(g.buf) > 0 {
		g.emit(g.buf)
	}
	g.buf = g.buf[:0]
}

func (g *guestOutput) emit(line []byte) {
	attrs := []slog.Attr{slog.String("stream", g.stream), slog.String("route", g.inst.pool.pattern)}
	if c := g.inst.cur; c != nil {
		attrs = append(attrs, slog.String("request_id", c.id))
	}
	level := slog.LevelInfo
	if g.stream == "stderr" {
		level = slog.LevelWarn
	}
	g.inst.pool.h.log.LogAttrs(context.Background(), level, string(line), attrs...)
}
