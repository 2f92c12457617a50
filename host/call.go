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

	"github.com/wasmroute/wasmroute/abi"
)

var randReader io.Reader = rand.Reader

// instance is one initialised guest module. It serves one request at a time.
type instance struct {
	pool *pool
	mod  api.Module
	// gen is the generation of the pool's code it was made from.
	gen uint64
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
	fn(abi.FuncRevalidateTag, revalidateFunc(abi.FuncRevalidateTag, false, false), []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncRevalidatePath, revalidateFunc(abi.FuncRevalidatePath, true, false), []api.ValueType{i32, i32}, []api.ValueType{i32})
	fn(abi.FuncExpireTag, revalidateFunc(abi.FuncExpireTag, false, true), []api.ValueType{i32, i32}, []api.ValueType{i32})
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
