//go:build unix

package host

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/stealthrocket/wasi-go"
	wasip1 "github.com/stealthrocket/wasi-go/imports/wasi_snapshot_preview1"
	"github.com/stealthrocket/wasi-go/systems/unix"
	"github.com/stealthrocket/wazergo"
	"github.com/tetratelabs/wazero"
)

// netRuntime is the runtime for modules that import the WasmEdge socket
// functions (a guest using github.com/stealthrocket/net). Its WASI is
// stealthrocket/wasi-go's, one System per instance, wrapped by guardedSystem.
// Other modules stay on the main runtime and wazero's own WASI, so routes
// that do not use the network pay nothing for it.
type netRuntime struct {
	rt   wazero.Runtime
	wasi *wazergo.CompiledModule[*wasip1.Module]
}

// network returns the network runtime, creating it on first use.
func (e *Engine) network() (*netRuntime, error) {
	e.netOnce.Do(func() {
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, e.rtConfig)
		fail := func(err error) {
			rt.Close(ctx)
			e.netErr = fmt.Errorf("network runtime: %w", err)
		}
		if err := instantiateHostFunctions(ctx, rt); err != nil {
			fail(err)
			return
		}
		cm, err := wazergo.Compile(ctx, rt, wasip1.NewHostModule(wasip1.WasmEdgeV2))
		if err != nil {
			fail(err)
			return
		}
		// The first Instantiate also instantiates the host module in the
		// runtime; doing it once here keeps two instances created at once
		// from both trying.
		if _, err := cm.Instantiate(ctx, wasip1.WithWASI(&unix.System{})); err != nil {
			fail(err)
			return
		}
		e.net = &netRuntime{rt: rt, wasi: cm}
	})
	return e.net, e.netErr
}

var monotonicEpoch = time.Now()

// newWASI creates the WASI system of one instance: stdin reads nothing,
// stdout and stderr go to the log, the environment is the app's, clocks are
// real, there are no preopened directories, and sockets go through
// guardedSystem.
func (p *pool) newWASI(inst *instance) (context.Context, error) {
	n, err := p.h.e.network()
	if err != nil {
		return nil, err
	}
	if !p.h.e.guestFDs.acquire(instanceFDs) {
		return nil, errFDBudget
	}
	s := &unix.System{
		Args:               []string{"wasmroute"},
		Environ:            p.env,
		Realtime:           func(context.Context) (uint64, error) { return uint64(time.Now().UnixNano()), nil },
		RealtimePrecision:  time.Microsecond,
		Monotonic:          func(context.Context) (uint64, error) { return uint64(time.Since(monotonicEpoch)), nil },
		MonotonicPrecision: time.Nanosecond,
		Yield:              func(context.Context) error { runtime.Gosched(); return nil },
		Exit:               func(context.Context, int) error { return nil }, // the host module then traps
		Rand:               randReader,
	}
	// The guest's fds 0, 1 and 2 must exist; writes to 1 and 2 never reach
	// these (guardedSystem.FDWrite).
	for _, name := range []string{"/dev/stdin", "/dev/stdout", "/dev/stderr"} {
		fd, err := syscall.Open("/dev/null", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			s.Close(context.Background())
			p.h.e.guestFDs.release(instanceFDs)
			return nil, err
		}
		s.Preopen(unix.FD(fd), name, wasi.FDStat{FileType: wasi.CharacterDeviceType, RightsBase: wasi.FileRights})
	}
	g := &guardedSystem{System: s, inst: inst, resolved: map[netip.AddrPort]bool{}, sockets: map[wasi.FD]bool{}}
	mi, err := n.wasi.Instantiate(context.Background(), wasip1.WithWASI(g))
	if err != nil {
		s.Close(context.Background())
		p.h.e.guestFDs.release(instanceFDs)
		return nil, err
	}
	inst.sockets = g
	inst.wasi = closerFunc(func() error {
		err := mi.Close(context.Background())
		p.h.e.guestFDs.release(instanceFDs + int64(len(g.sockets)))
		return err
	})
	return wazergo.WithModuleInstance(context.Background(), mi), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// guardedSystem is the WASI system of a network-enabled instance. It lets a
// guest resolve and connect only to what the app's allowed_outbound_hosts
// names, refuses listening and datagram sockets, sends stdout and stderr to
// the log, and keeps a guest blocked on the network within its request's
// time limit.
type guardedSystem struct {
	wasi.System
	inst *instance
	// resolved holds the addresses that allowed names resolved to: a guest
	// may connect to them.
	resolved map[netip.AddrPort]bool
	// sockets holds the guest's open sockets, each counted in the host's
	// budget of guest file descriptors.
	sockets map[wasi.FD]bool
}

// instanceFDs is how many file descriptors a network instance holds before
// it opens any socket: /dev/null for stdin, stdout and stderr, and the pipe
// wasi-go wakes its poll with.
const instanceFDs = 5

func (g *guardedSystem) open() int { return len(g.sockets) }

// deny logs a refused network operation and returns the errno the guest
// sees, EACCES.
func (g *guardedSystem) deny(ctx context.Context, op, addr, reason string) wasi.Errno {
	return g.refuse(ctx, wasi.EACCES, op, addr, reason)
}

// refuse logs a refused network operation, within the request's cap on
// refusal lines, and returns errno.
func (g *guardedSystem) refuse(ctx context.Context, errno wasi.Errno, op, addr, reason string) wasi.Errno {
	attrs := []slog.Attr{slog.String("op", op), slog.String("address", addr), slog.String("reason", reason)}
	if c := callFrom(ctx); c != nil {
		c.logRefusal("outbound network denied", attrs...)
		return errno
	}
	g.inst.pool.h.log.LogAttrs(ctx, slog.LevelWarn, "outbound network denied", append([]slog.Attr{slog.String("module", g.inst.pool.module)}, attrs...)...)
	return errno
}

func (g *guardedSystem) FDWrite(ctx context.Context, fd wasi.FD, iovecs []wasi.IOVec) (wasi.Size, wasi.Errno) {
	var out *guestOutput
	switch fd {
	case 1:
		out = g.inst.stdout
	case 2:
		out = g.inst.stderr
	default:
		return g.System.FDWrite(ctx, fd, iovecs)
	}
	n := 0
	for _, v := range iovecs {
		out.Write(v)
		n += len(v)
	}
	return wasi.Size(n), wasi.ESUCCESS
}

func (g *guardedSystem) SockOpen(ctx context.Context, family wasi.ProtocolFamily, socketType wasi.SocketType, protocol wasi.Protocol, rightsBase, rightsInheriting wasi.Rights) (wasi.FD, wasi.Errno) {
	if (family != wasi.InetFamily && family != wasi.Inet6Family) || socketType != wasi.StreamSocket {
		return ^wasi.FD(0), g.deny(ctx, "open", family.String()+"/"+socketType.String(), "only TCP connections are allowed")
	}
	h := g.inst.pool.h
	if len(g.sockets) >= h.opts.MaxSocketsPerInstance {
		return ^wasi.FD(0), g.refuse(ctx, wasi.EMFILE, "open", "", "the instance holds "+strconv.Itoa(len(g.sockets))+" sockets, its limit")
	}
	if !h.e.guestFDs.acquire(1) {
		return ^wasi.FD(0), g.refuse(ctx, wasi.ENFILE, "open", "", "the host's guest sockets are all in use")
	}
	fd, errno := g.System.SockOpen(ctx, family, socketType, protocol, rightsBase, rightsInheriting)
	if errno != wasi.ESUCCESS {
		h.e.guestFDs.release(1)
		return fd, errno
	}
	g.sockets[fd] = true
	return fd, errno
}

// FDClose releases a socket's place in the budgets.
func (g *guardedSystem) FDClose(ctx context.Context, fd wasi.FD) wasi.Errno {
	errno := g.System.FDClose(ctx, fd)
	if g.sockets[fd] && errno == wasi.ESUCCESS {
		delete(g.sockets, fd)
		g.inst.pool.h.e.guestFDs.release(1)
	}
	return errno
}

func (g *guardedSystem) SockBind(ctx context.Context, fd wasi.FD, addr wasi.SocketAddress) (wasi.SocketAddress, wasi.Errno) {
	return nil, g.deny(ctx, "bind", addrString(addr), "guests cannot listen")
}

func (g *guardedSystem) SockListen(ctx context.Context, fd wasi.FD, backlog int) wasi.Errno {
	return g.deny(ctx, "listen", "", "guests cannot listen")
}

func (g *guardedSystem) SockAccept(ctx context.Context, fd wasi.FD, flags wasi.FDFlags) (wasi.FD, wasi.SocketAddress, wasi.SocketAddress, wasi.Errno) {
	return ^wasi.FD(0), nil, nil, g.deny(ctx, "accept", "", "guests cannot listen")
}

func (g *guardedSystem) SockConnect(ctx context.Context, fd wasi.FD, addr wasi.SocketAddress) (wasi.SocketAddress, wasi.Errno) {
	ap, ok := addrPort(addr)
	if !ok || !(g.resolved[ap] || g.inst.pool.allow.AllowsAddr(ap)) {
		return nil, g.deny(ctx, "connect", addrString(addr), "not in allowed_outbound_hosts")
	}
	return g.System.SockConnect(ctx, fd, addr)
}

func (g *guardedSystem) SockSendTo(ctx context.Context, fd wasi.FD, iovecs []wasi.IOVec, flags wasi.SIFlags, addr wasi.SocketAddress) (wasi.Size, wasi.Errno) {
	if addr != nil {
		return 0, g.deny(ctx, "sendto", addrString(addr), "only connected TCP sockets are allowed")
	}
	return g.System.SockSendTo(ctx, fd, iovecs, flags, addr)
}

func (g *guardedSystem) SockAddressInfo(ctx context.Context, name, service string, hints wasi.AddressInfo, results []wasi.AddressInfo) (int, wasi.Errno) {
	port, err := strconv.Atoi(service)
	switch service {
	case "http":
		port, err = 80, nil
	case "https":
		port, err = 443, nil
	}
	switch {
	case hints.Flags.Has(wasi.Passive):
		return 0, g.deny(ctx, "resolve", name+":"+service, "guests cannot listen")
	case err != nil || !g.inst.pool.allow.AllowsName(name, port):
		return 0, g.deny(ctx, "resolve", name+":"+service, "not in allowed_outbound_hosts")
	}
	c := callFrom(ctx)
	held := c != nil && c.pause() // resolving may wait on DNS
	n, errno := g.System.SockAddressInfo(ctx, name, service, hints, results)
	if c != nil {
		c.resume(held)
	}
	if errno == wasi.ESUCCESS {
		if len(g.resolved) > 1024 {
			clear(g.resolved)
		}
		for _, r := range results[:n] {
			if ap, ok := addrPort(r.Address); ok {
				g.resolved[ap] = true
			}
		}
	}
	return n, errno
}

// deadlineEvent marks the clock subscription PollOneOff adds for the
// request's time limit.
const deadlineEvent = wasi.UserData(0x7761736d726f7574) // "wasmrout"

// PollOneOff is where a guest waits for the network. It adds a clock for the
// request's deadline, so a guest waiting on a silent upstream is stopped at
// its time limit like one spinning in a loop.
func (g *guardedSystem) PollOneOff(ctx context.Context, subscriptions []wasi.Subscription, events []wasi.Event) (int, wasi.Errno) {
	c := callFrom(ctx)
	if c == nil || c.deadline.IsZero() {
		return g.System.PollOneOff(ctx, subscriptions, events)
	}
	left := time.Until(c.deadline)
	if left <= 0 {
		c.timedOut = true
		panic(errTimeLimit)
	}
	subs := append(subscriptions[:len(subscriptions):len(subscriptions)], wasi.MakeSubscriptionClock(deadlineEvent,
		wasi.SubscriptionClock{ID: wasi.Monotonic, Timeout: wasi.Timestamp(left)}))
	evs := make([]wasi.Event, len(subs))
	held := c.pause()
	n, errno := g.System.PollOneOff(ctx, subs, evs)
	c.resume(held)
	out := 0
	for _, e := range evs[:n] {
		if e.UserData == deadlineEvent && e.EventType == wasi.ClockEvent {
			continue
		}
		events[out] = e
		out++
	}
	if out == 0 && errno == wasi.ESUCCESS && !time.Now().Before(c.deadline) {
		c.timedOut = true
		panic(errTimeLimit)
	}
	return out, errno
}

func addrPort(a wasi.SocketAddress) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *wasi.Inet4Address:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *wasi.Inet6Address:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}

func addrString(a wasi.SocketAddress) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// defaultGuestSockets is half the process's open-file limit (Go raises the
// soft limit to the hard one at start), at least 64.
func defaultGuestSockets() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 4096
	}
	return int(max(lim.Cur/2, 64))
}
