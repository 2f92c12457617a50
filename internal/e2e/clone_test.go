package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/host"
)

// snapshotTaken is the log line of a pool that clones its instances.
const snapshotTaken = `msg="snapshot taken; new instances are clones"`

// TestClonesHaveTheirOwnRandomness sends requests to the plain app's
// /api/random, which has isolation = "request": each runs on a new clone of
// the app's snapshot. math/rand, math/rand/v2 and crypto/rand values must
// differ from clone to clone, and so must the iteration order of new maps;
// a map made before the snapshot must still work.
func TestClonesHaveTheirOwnRandomness(t *testing.T) {
	s := serve(t, plainDir, host.Options{})
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), snapshotTaken) })
	type answer struct {
		Rand, RandV2     int64
		MapOrder, Crypto string
		Seeded           int
	}
	seen := map[string]map[any]bool{"rand": {}, "randv2": {}, "crypto": {}, "mapOrder": {}}
	const n = 6
	for i := range n {
		resp, body := s.do(t, "GET", "/api/random", "")
		var a answer
		if err := json.Unmarshal([]byte(body), &a); resp.StatusCode != 200 || err != nil {
			t.Fatalf("request %d: %d %s %v", i, resp.StatusCode, body, err)
		}
		if a.Seeded != 2 {
			t.Fatalf("request %d: the snapshot's map lost its entries: %s", i, body)
		}
		seen["rand"][a.Rand] = true
		seen["randv2"][a.RandV2] = true
		seen["crypto"][a.Crypto] = true
		seen["mapOrder"][a.MapOrder] = true
	}
	for _, name := range []string{"rand", "randv2", "crypto"} {
		if len(seen[name]) != n {
			t.Errorf("%s: %d distinct values in %d clones, want all different", name, len(seen[name]), n)
		}
	}
	// Sixteen keys iterate in one of few orders: clones may repeat one,
	// but not all agree unless they share the seed.
	if len(seen["mapOrder"]) == 1 {
		t.Errorf("every clone iterated a new map in the same order")
	}
	if logs := s.logs.String(); strings.Contains(logs, "cannot be cloned") {
		t.Fatalf("the app was served from fresh instances:\n%s", logs)
	}
}
