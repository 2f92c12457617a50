package host

import (
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
type cpuSlots chan struct{}

// cpuQuantum is how long a call may keep its slot while others may wait.
const cpuQuantum = 5 * time.Millisecond

// acquireCPU waits for a slot for c.
func (c *call) acquireCPU() {
	if s := c.h.cpu; s != nil && !c.slotHeld {
		s <- struct{}{}
		c.slotHeld = true
		c.slotSince = time.Now()
		c.route.pool.computing.Add(1)
	}
}

// releaseCPU gives c's slot back, if it holds one.
func (c *call) releaseCPU() {
	if c.slotHeld {
		c.route.pool.computing.Add(-1)
		<-c.h.cpu
		c.slotHeld = false
	}
}

// pause gives c's slot back before the host waits on its behalf; resume
// takes one again. Use them in pairs: held := c.pause(); wait; c.resume(held).
func (c *call) pause() bool {
	held := c.slotHeld
	c.releaseCPU()
	return held
}

func (c *call) resume(held bool) {
	if held {
		c.acquireCPU()
	}
}

// yieldCPU lets waiting calls run if c has computed for a whole quantum.
func (c *call) yieldCPU(now time.Time) {
	if c.slotHeld && now.Sub(c.slotSince) > cpuQuantum {
		c.releaseCPU()
		c.acquireCPU()
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
