// Package hostprobe lets wasmroute's own benchmarks measure parts of the
// host that its public API does not expose. Package host fills it in when
// it is linked; nothing else should use it.
package hostprobe

import "time"

// InstanceTimes starts n instances of the first module of h (a *host.Host),
// the way the host starts them (fresh, or clones once it has a snapshot;
// fresh forces fresh ones), closes each, and returns how long each took to
// start and the page faults the process took for each, on average.
var InstanceTimes func(h any, n int, fresh bool) (times []time.Duration, faults float64, err error)
