package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmroute/wasmroute/abi"
)

// invoke is the last stage: it serves the call on an instance of its
// route's module, taking the route's place, a CPU slot and an instance in
// that order, and turns what the guest did into the response.
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
	if c.Err() != nil {
		// The client left while the module compiled or an instance was
		// made: nobody is there to answer, and the log says aborted.
		c.releaseCPU()
		p.putBack(inst, true)
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
