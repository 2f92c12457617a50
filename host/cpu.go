package host

import (
	"sync"
	"time"
)

// cpuSlots limits how many guest calls execute at once, normally to the
// number of cores. The CLI runs twice as many Ps as cores so that network
// goroutines are not starved by guest calls, which Go cannot preempt; without
// slots, those extra Ps also ran guests, and the kernel time-sliced four
// guest calls over two cores. With slots, a guest call runs to its end (or
// to its next wait) on a core of its own: in scripts/bench the p99 of
// GET /api/users/42 fell from about 31 to 13 ms at the same throughput.
//
// A call gives its slot back whenever it waits: for the client (body reads,
// writes, flushes), the store, a sleep, or the network. One that computes
// for longer than cpuQuantum gives it up at its next poll, so a spinning guest
// delays others by one quantum at a time, never for its whole MaxDuration.
//
// A free slot goes first to a call coming back from a wait, which holds an
// instance, then to a new request, which does not yet: otherwise new
// requests take the slots while calls holding instances wait, and every
// waiting call makes the pool grow. A new request that has waited a
// quantum goes first, so calls that wait and come back in a loop (a
// stream) cannot starve it.
type cpuSlots struct {
	mu   sync.Mutex
	free int
	// resuming and starting queue the calls waiting for a slot, in order.
	resuming, starting []slotWaiter
}

type slotWaiter struct {
	ready chan struct{}
	since time.Time
}

func newCPUSlots(n int) *cpuSlots { return &cpuSlots{free: n} }

// acquire waits for a slot; resuming says the caller holds an instance.
func (s *cpuSlots) acquire(resuming bool) {
	s.mu.Lock()
	if s.free > 0 && (resuming || len(s.resuming) == 0) && (!resuming || len(s.starting) == 0 || !s.starved()) {
		s.free--
		s.mu.Unlock()
		return
	}
	w := slotWaiter{ready: make(chan struct{}), since: time.Now()}
	if resuming {
		s.resuming = append(s.resuming, w)
	} else {
		s.starting = append(s.starting, w)
	}
	s.mu.Unlock()
	<-w.ready
}

// starved reports whether the first new request has waited a quantum.
func (s *cpuSlots) starved() bool {
	return len(s.starting) > 0 && time.Since(s.starting[0].since) > cpuQuantum
}

// release gives a slot back, or hands it to the next waiter.
func (s *cpuSlots) release() {
	s.mu.Lock()
	var next *[]slotWaiter
	switch {
	case s.starved() || (len(s.resuming) == 0 && len(s.starting) > 0):
		next = &s.starting
	case len(s.resuming) > 0:
		next = &s.resuming
	default:
		s.free++
		s.mu.Unlock()
		return
	}
	w := (*next)[0]
	*next = (*next)[1:]
	s.mu.Unlock()
	close(w.ready)
}

// cpuQuantum is how long a call may keep its slot while others may wait.
const cpuQuantum = 5 * time.Millisecond

// acquireCPU waits for a slot for c, as a new request.
func (c *call) acquireCPU() { c.takeCPU(false) }

func (c *call) takeCPU(resuming bool) {
	if s := c.h.e.cpu; s != nil && !c.slotHeld {
		s.acquire(resuming)
		c.slotHeld = true
		c.slotSince = time.Now()
		c.route.pool.computing.Add(1)
	}
}

// releaseCPU gives c's slot back, if it holds one.
func (c *call) releaseCPU() {
	if c.slotHeld {
		c.route.pool.computing.Add(-1)
		c.h.e.cpu.release()
		c.slotHeld = false
	}
}

// pause gives c's slot back before the host waits on its behalf; resume
// takes one again, ahead of new requests, since c holds an instance. Use
// them in pairs: held := c.pause(); wait; c.resume(held).
func (c *call) pause() bool {
	held := c.slotHeld
	c.releaseCPU()
	return held
}

func (c *call) resume(held bool) {
	if held {
		c.takeCPU(true)
	}
}

// yieldCPU lets waiting calls run if c has computed for a whole quantum. It
// queues as a new request would, behind the others.
func (c *call) yieldCPU(now time.Time) {
	if c.slotHeld && now.Sub(c.slotSince) > cpuQuantum {
		c.releaseCPU()
		c.takeCPU(false)
	}
}

// nanosleep is the sleep of an instance's WASI: it gives the call's slot
// back while it sleeps, and never sleeps past the call's deadline, so a
// guest asleep in time.Sleep is stopped at its time limit too.
func (i *instance) nanosleep(ns int64) {
	d := time.Duration(ns)
	c := i.cur
	if c == nil {
		time.Sleep(d) // _initialize
		return
	}
	if left := time.Until(c.deadline); !c.deadline.IsZero() && left < d {
		d = max(left, 0)
	}
	held := c.pause()
	time.Sleep(d)
	c.resume(held)
}
