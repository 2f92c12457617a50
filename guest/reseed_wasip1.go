package guest

import (
	"unsafe"

	"github.com/wasmroute/wasmroute/abi"
)

// A clone of an instance starts with the memory of the instance it was
// cloned from, so with the same Go runtime random state: math/rand and
// math/rand/v2 values, map seeds and map iteration order would repeat from
// clone to clone. The host calls reseed in every clone. It reaches into the
// runtime, which keeps that state in two places: the global generator that
// seeds each M, and the M's own generator, which runtime.rand (behind
// math/rand, math/rand/v2 and maps) draws from. WebAssembly runs one M, m0.
// `wasmroute build` links with -checklinkname=0 so these references link.
// crypto/rand keeps no state: it asks the host every time.

//go:linkname runtimeM0 runtime.m0
var runtimeM0 struct{}

//go:linkname runtimeRandinit runtime.randinit
func runtimeRandinit()

//go:linkname runtimeMrandinit runtime.mrandinit
func runtimeMrandinit(mp unsafe.Pointer)

// globalRandLayout mirrors the runtime's globalRand (runtime/rand.go, Go
// 1.26): a mutex, the seed, the ChaCha8 state, and whether it is set up.
type globalRandLayout struct {
	lock  uintptr
	seed  [32]byte
	state struct {
		buf     [32]uint64
		seed    [4]uint64
		i, n, c uint32
	}
	init bool
}

//go:linkname runtimeGlobalRand runtime.globalRand
var runtimeGlobalRand globalRandLayout

// reseedable says the runtime's globalRand looks as this file expects,
// checked once the runtime has set it up: marked initialised, its seed
// erased. A Go release that changes it makes reseed refuse, and the host
// serves the module from fresh instances instead of clones.
func reseedable() bool {
	g := &runtimeGlobalRand
	return *(*byte)(unsafe.Pointer(&g.init)) == 1 && g.seed == [32]byte{}
}

// reseed gives this instance random state of its own, from the host's
// random_get: it sets the global generator up again, then the M's from it.
// It returns 0, or 1 when the runtime is not laid out as expected.
//
//go:wasmexport wasmroute_reseed
func reseed() uint32 {
	if !reseedable() {
		logf(abi.LogWarn, "wasmroute: cannot reseed this Go runtime's random state; the host serves fresh instances")
		return 1
	}
	runtimeGlobalRand.init = false
	runtimeRandinit()
	runtimeMrandinit(unsafe.Pointer(&runtimeM0))
	return 0
}
