// Package route is the benchmark's probe: GET /api/probe?work=W&n=N runs the
// work W, N times in this one call, and answers with the mean time per run.
// scripts/bench calls it on the native server and on wasmroute, so the two
// numbers compare the same Go code natively and as WebAssembly, with no
// network and no host in between.
package route

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	app "example.com/api/app"
	"example.com/api/lib/users"
	"github.com/wasmroute/wasmroute/guest"
)

// works are what the probe can run. "users42" is what GET /api/users/42 does
// in examples/api besides the SDK: build the request and response, run the
// middleware, then the route's store lookup and JSON answer. The others are
// those four steps one at a time; together they do what users42 does.
var works = map[string]func(){
	"users42": func() {
		w, r := exchange()
		app.Middleware(w, r)
		guest.JSON(w, http.StatusOK, users.Response{Data: lookup(r.PathValue("id"))})
	},
	"request": func() { exchange() },
	"middleware": func() {
		app.Middleware(probeW, probeR)
	},
	"store": func() { lookup("42") },
	"json": func() {
		probeW.Body.Reset()
		guest.JSON(probeW, http.StatusOK, users.Response{Data: users.User{ID: "42", Name: "User 42", Email: "user42@example.com"}})
	},
}

// probeW and probeR are one exchange, reused by the steps that do not build
// their own.
var probeW, probeR = exchange()

// exchange is the request the route sees for GET /api/users/42, and a
// response recorder.
func exchange() (*httptest.ResponseRecorder, *http.Request) {
	r := httptest.NewRequest(http.MethodGet, "/api/users/42", nil)
	r.SetPathValue("id", "42")
	return httptest.NewRecorder(), r
}

// lookup is the route's store access: seed check, key, read, JSON decode.
func lookup(id string) users.User {
	if err := users.Seed(); err != nil {
		panic(err)
	}
	u, err := users.Get(id)
	if err != nil {
		panic(err)
	}
	return u
}

// GET runs the work once to warm up, then n times, and reports the mean.
func GET(w http.ResponseWriter, r *http.Request) {
	work, ok := works[r.URL.Query().Get("work")]
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if !ok || err != nil || n < 1 {
		guest.Error(w, http.StatusBadRequest, "want ?work=users42|request|middleware|store|json&n=N")
		return
	}
	if err := users.Seed(); err != nil {
		guest.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	work()
	start := time.Now()
	for range n {
		work()
	}
	guest.JSON(w, http.StatusOK, map[string]int64{"ns_per_op": int64(time.Since(start)) / int64(n)})
}
