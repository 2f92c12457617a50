// Package route reports the random state its instance starts a request
// with: with isolation = "request" (wasmroute.toml), every request runs on
// a new clone of the app's snapshot, and no two may agree.
package route

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand"
	randv2 "math/rand/v2"
	"net/http"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// seeded is a map made while the module initialised: it is in the
// snapshot, and must still work in every clone.
var seeded = map[string]int{"a": 1, "b": 2, "c": 3}

// GET answers the instance's math/rand and math/rand/v2 values, the
// iteration order of a new map, crypto/rand bytes, and a lookup in the
// snapshot's map.
func GET(w http.ResponseWriter, r *http.Request) {
	m := map[int]bool{}
	for i := range 16 {
		m[i] = true
	}
	var order strings.Builder
	for k := range m {
		fmt.Fprintf(&order, "%x", k)
	}
	b := make([]byte, 8)
	crand.Read(b)
	guest.JSON(w, http.StatusOK, map[string]any{
		"rand": rand.Int63(), "randv2": randv2.Int64(), "mapOrder": order.String(),
		"crypto": hex.EncodeToString(b), "seeded": seeded["b"],
	})
}
