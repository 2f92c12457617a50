package host

import (
	"errors"
	"time"

	"github.com/wasmroute/wasmroute/internal/hostprobe"
)

func init() { hostprobe.InstanceTimes = instanceTimes }

// instanceTimes implements hostprobe.InstanceTimes.
func instanceTimes(hv any, n int, fresh bool) ([]time.Duration, float64, error) {
	h, ok := hv.(*Host)
	if !ok {
		return nil, 0, errors.New("not a *host.Host")
	}
	p := h.state.Load().pools[0]
	if err := p.warm(); err != nil {
		return nil, 0, err
	}
	if !fresh && p.snapshot() == nil {
		return nil, 0, errors.New("the module has no snapshot: instances are not clones")
	}
	var times []time.Duration
	f0 := pageFaults()
	for range n {
		start := time.Now()
		var inst *instance
		var err error
		if fresh {
			inst, err = p.instantiate(nil)
		} else {
			inst, err = p.newInstance()
		}
		if err != nil {
			return nil, 0, err
		}
		times = append(times, time.Since(start))
		inst.close()
		inst.mem.free()
	}
	return times, float64(pageFaults()-f0) / float64(n), nil
}
