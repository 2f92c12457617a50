package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	// mem is what the instance's linear memory holds of the host's budget.
	mem *memoryUse
	// sockets counts the sockets the guest holds open (network modules).
	sockets interface{ open() int }
	handle  api.Function
	stack   []uint64
	cur     *call // the request being served, for guest output
	// lastUsed is when the instance last went back to its pool; used says
	// it has served a request (a route with isolation = "request" takes
	// only fresh instances).
	lastUsed time.Time
	used     bool
	stdout   *guestOutput
	stderr   *guestOutput
	// initLog budgets the output of the guest outside requests: its
	// _initialize, and goroutines that run between requests.
	initLog logBudget
}

// openSockets is how many sockets the instance's guest holds open.
func (i *instance) openSockets() int {
	if i.sockets == nil {
		return 0
	}
	return i.sockets.open()
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

	head         abi.RequestHead
	headEnc      []byte
	respHead     abi.ResponseHead
	headSent     bool
	bodyDone     bool
	failed       bool      // writing to the client failed
	flushed      bool      // the guest flushed: writes may reach the socket
	bodyStatus   int       // the request body failed to arrive: the status to answer (bodyFailed)
	answeredBody bool      // the host answered bodyStatus
	deadline     time.Time // MaxDuration from the start of the guest call
	timedOut     bool
	// next is set when a middleware lets the request continue.
	next       abi.MiddlewareNext
	nextSet    bool
	middleware bool // this call runs the middleware module: no request body
	refusals   int  // refused guest calls so far (logRefusal)
	// handlerDone is set when the guest's handler returned with its response
	// complete (abi.FuncHandlerDone); the call only lets goroutines it left
	// behind end.
	handlerDone bool
	// log budgets the guest's log lines in this request.
	log logBudget
	// clientWait is how long the last I/O on the client waited (onClient).
	clientWait time.Duration
	interims   int // informational responses sent
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
	// A route with its own max_instances takes one of its places first;
	// then the CPU slot: a request waiting for one holds no instance, so
	// pools grow only as far as requests compute at once.
	err := c.route.enter(c, h.opts.QueueTimeout)
	if err == nil {
		defer c.route.leave()
	}
	var inst *instance
	if err == nil {
		c.acquireCPU()
		inst, err = p.get(c)
	}
	if err != nil {
		c.releaseCPU()
		if c.Err() != nil {
			return // the client went away while waiting
		}
		if errors.Is(err, errMemoryBudget) {
			h.memoryRefused(c)
			return
		}
		if errors.Is(err, errSaturated) {
			h.log.Warn("saturated", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
				slog.String("cause", err.Error()), slog.Duration("waited", h.opts.QueueTimeout))
			c.w.Header().Set("Retry-After", "1")
			writeError(c.w, http.StatusServiceUnavailable, "Service Unavailable")
			c.headSent = true
			return
		}
		h.log.Error("no instance for route", slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("error", err.Error()))
		c.fail()
		return
	}
	// The quantum counts the guest's computing, not the making of its
	// instance: a call that yielded right away would let another request
	// in to make one more.
	c.slotSince = time.Now()
	inst.cur, inst.used = c, true
	c.wasiCtx = inst.wasiCtx
	p.calls.Add(1)
	inst.stack[0] = uint64(c.route.index)
	inst.stack[1] = uint64(len(c.headEnc))
	inst.stack[2] = 0
	if c.withMiddleware || c.middleware {
		inst.stack[2] = abi.FlagMiddleware
	}
	// The guest runs until it returns or MaxDuration passes: the poll host
	// function, which the build makes every loop call, stops it then. A
	// client that goes away does not stop it (its writes just fail), so a
	// disconnect never costs an instance.
	c.deadline = time.Now().Add(c.route.maxDuration)
	// Waits on the client count against the same limit.
	setClientDeadline(c.w.ResponseWriter, c.r.ContentLength != 0, c.deadline)
	if h.opts.CloseOnContextDone {
		err = callWithDeadline(c, inst)
	} else {
		err = inst.handle.CallWithStack(c, inst.stack)
		c.releaseCPU()
	}
	timedOut := c.timedOut
	// The host's own answer, and net/http's last flush, get a moment more.
	setClientDeadline(c.w.ResponseWriter, false, time.Now().Add(clientGrace))
	inst.stdout.flush()
	inst.stderr.flush()
	c.log.report(c)
	inst.cur = nil
	res := uint32(inst.stack[0])
	healthy := err == nil && h.keep(c, inst, res)
	if healthy && c.route.isolated {
		p.drop(inst) // no state survives the request
	} else {
		p.put(inst, healthy) // inst belongs to the pool again from here on
	}
	res &= 0xff
	if err != nil && c.handlerDone {
		// The response was complete; what failed is a goroutine the handler
		// left behind (it spun past the grace, or panicked).
		h.log.Warn("goroutines left by the request failed after its response; instance discarded", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.String("error", err.Error()))
		return
	}
	if err != nil && inst.mem.refused.Load() && !c.headSent {
		h.memoryRefused(c)
		return
	}
	if err != nil && timedOut && c.bodyStatus == http.StatusRequestTimeout {
		// The client, not the guest, ran out the clock: the guest stopped
		// at its time limit while it unwound from the failed read.
		if !c.headSent {
			c.answerBodyFailure()
		}
		return
	}
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
	case c.answeredBody, c.nextSet && !c.headSent && res == abi.HandleOK:
	case c.bodyStatus != 0 && !c.headSent:
		c.answerBodyFailure()
	case res != abi.HandleOK || !c.headSent:
		c.fail()
	}
}

// enter takes one of the route's places when it caps the requests it
// serves at once (max_instances), waiting for at most timeout.
func (rt *route) enter(ctx context.Context, timeout time.Duration) error {
	if rt.slots == nil {
		return nil
	}
	select {
	case rt.slots <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(timeout)
	defer wait.Stop()
	select {
	case rt.slots <- struct{}{}:
		return nil
	case <-wait.C:
		return errRouteSaturated
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leave gives back the place enter took.
func (rt *route) leave() {
	if rt.slots != nil {
		<-rt.slots
	}
}

// errRouteSaturated means a route with its own max_instances kept them all
// busy for the whole queue timeout.
var errRouteSaturated = fmt.Errorf("%w: the route's max_instances", errSaturated)

// memoryRefused answers a request the host could not give memory to: its
// instance could not start or grow within Options.MemoryBudget. The app that
// asks for too much gets 503, and every other keeps what it holds.
func (h *Host) memoryRefused(c *call) {
	h.log.Warn("instance memory budget spent", slog.String("request_id", c.id), slog.String("route", c.route.Pattern),
		slog.Int64("used", h.e.memory.used.Load()), slog.Int64("budget", h.e.memory.limit))
	c.w.Header().Set("Retry-After", "1")
	writeError(c.w, http.StatusServiceUnavailable, "Service Unavailable")
	c.headSent = true
}

// keep reports whether inst may serve another request after c, which
// returned res. It is retired when its memory grew past RecycleMemory (Go
// guests never shrink), when the handler left goroutines that did not end,
// and when the request left sockets open: connections belong to the
// request that opened them.
func (h *Host) keep(c *call, inst *instance, res uint32) bool {
	switch {
	case inst.mod.Memory().Size() > h.opts.RecycleMemory:
		return false
	case res&abi.HandleRetire != 0:
		h.log.Warn("request left goroutines running; instance retired", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.Uint64("goroutines", uint64(res>>abi.HandleLeftShift)))
		return false
	case inst.openSockets() > 0:
		h.log.Debug("request left sockets open; instance retired", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.Int("sockets", inst.openSockets()))
		return false
	}
	return true
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

// instantiateImports provides WASI preview 1 and the wasmroute host functions
// (the abi package's Func names) in rt. Host.New does this for its own
// runtime; tools that instantiate guest modules themselves, such as
// benchmarks, call it on theirs. Outside a request served by a Host, the host
// functions return abi.ErrState.
func instantiateImports(ctx context.Context, rt wazero.Runtime) error {
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
	fn(abi.FuncRespond, respond, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FuncFlush, flush, nil, []api.ValueType{i32})
	fn(abi.FuncLog, logLine, []api.ValueType{i32, i32, i32}, nil)
	fn(abi.FuncPoll, poll, nil, nil)
	fn(abi.FuncHandlerDone, handlerDone, nil, nil)
	fn(abi.FuncMiddlewareNext, middlewareNext, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVGet, kvGet, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVSet, kvSet, []api.ValueType{i32, i32, i32, i32, api.ValueTypeI64}, []api.ValueType{i32})
	fn(abi.FuncKVDelete, kvDelete, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVExists, kvExists, []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVKeys, kvKeys, []api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32})
	fn(abi.FuncKVIncr, kvIncr, []api.ValueType{i32, i32, api.ValueTypeI64, i32}, []api.ValueType{i32})
	fn(abi.FuncKVCompareAndSwap, kvCompareAndSwap, []api.ValueType{i32, i32, i32, i32, i32, i32, api.ValueTypeI64}, []api.ValueType{i32})
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

// leftoverGrace is how long goroutines a handler left behind may still run
// once its response is complete.
const leftoverGrace = 10 * time.Millisecond

// handlerDone marks the response complete: from now on the call may only
// run for leftoverGrace more.
func handlerDone(ctx context.Context, _ api.Module, _ []uint64) {
	c := callFrom(ctx)
	if c == nil || !(c.headSent || c.nextSet) {
		return
	}
	c.handlerDone = true
	if grace := time.Now().Add(leftoverGrace); grace.Before(c.deadline) {
		c.deadline = grace
	}
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
	buf, ok := c.guestBytes(mod, abi.FuncReadBody, ptr, n, stack)
	if !ok {
		return
	}
	for tries := 0; ; tries++ {
		var got int
		err := c.onClient(func() (err error) { got, err = c.r.Body.Read(buf); return err })
		if got > 0 {
			result(stack, int32(got))
			return
		}
		switch {
		case err == io.EOF:
			c.bodyDone = true
			result(stack, 0)
			return
		case err != nil:
			c.bodyFailed(err)
			if c.bodyStatus == http.StatusRequestEntityTooLarge {
				result(stack, abi.ErrBodyTooLarge)
			} else {
				result(stack, abi.ErrIO)
			}
			return
		case tries > 100:
			c.h.log.Warn("reading request body: no progress", slog.String("request_id", c.id), slog.String("route", c.route.Pattern))
			result(stack, abi.ErrIO)
			return
		}
	}
}

// maxRefusalLogs caps the refusal lines one request can log, so a guest
// calling the host wrongly in a loop cannot flood the log.
const maxRefusalLogs = 16

// outOfBounds logs a host function call whose buffer lies outside the
// guest's linear memory, and returns the code the guest gets. The host never
// reads or writes outside that memory: wazero's Memory checks every range.
func (c *call) outOfBounds(fn string, ptr, n uint32) int32 {
	c.logRefusal("guest call refused", slog.String("function", fn),
		slog.String("reason", fmt.Sprintf("buffer [%d, +%d) is outside the guest's memory", ptr, n)))
	return abi.ErrInvalid
}

// guestBytes returns the n bytes of guest memory at ptr: a view, not a
// copy. A range outside the memory is refused with a log line and the
// result the guest gets, and ok is false.
func (c *call) guestBytes(mod api.Module, fn string, ptr, n uint32, stack []uint64) ([]byte, bool) {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		result(stack, c.outOfBounds(fn, ptr, n))
	}
	return b, ok
}

// refuse logs a guest response the host will not pass on.
func (c *call) refuse(reason string) {
	c.logRefusal("guest response refused", slog.String("reason", reason))
}

// logRefusal logs one refusal of what the guest asked, up to
// maxRefusalLogs per request, then one line saying the rest are not logged.
func (c *call) logRefusal(msg string, attrs ...slog.Attr) {
	c.refusals++
	switch {
	case c.refusals < maxRefusalLogs:
		c.h.log.LogAttrs(c, slog.LevelWarn, msg, append([]slog.Attr{slog.String("request_id", c.id), slog.String("route", c.route.Pattern)}, attrs...)...)
	case c.refusals == maxRefusalLogs:
		c.h.log.LogAttrs(c, slog.LevelWarn, "further refusals in this request are not logged", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern))
	}
}
