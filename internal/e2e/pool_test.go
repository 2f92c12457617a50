package e2e

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
)

// TestMostRecentlyUsedFirst makes three instances of a route, then sends
// requests one after another: each goes to the instance that served last,
// whose memory is warm, and the other two stay idle for the reaper.
func TestMostRecentlyUsedFirst(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 3})
	var writers []*io.PipeWriter
	var held []*http.Response
	for range 3 { // three requests hold three instances
		pr, pw := io.Pipe()
		resp, err := http.Post(s.URL+"/api/hostile?case=alloc&mb=0", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "allocated\n" {
			t.Fatalf("holding request: %q %v", line, err)
		}
		writers, held = append(writers, pw), append(held, resp)
	}
	for i := range held {
		writers[i].Close()
		io.Copy(io.Discard, held[i].Body)
		held[i].Body.Close()
	}
	if st := stats(s, "/api/hostile"); st.Instances != 3 || st.Idle != 3 {
		t.Fatalf("after the holding requests: %+v, want 3 idle instances", st)
	}
	var got []string
	for range 5 {
		_, body := s.do(t, "GET", "/api/hostile?case=count", "")
		got = append(got, body)
	}
	if strings.Join(got, ",") != "1,2,3,4,5" {
		t.Fatalf("counts %v: the requests went to several instances, want one", got)
	}
}

// TestPoolsGrowAsFarAsRequestsCompute sends 8 clients at a route allowed 8
// instances on a host with one CPU slot. A request waiting for the slot
// holds no instance, and one writing a small response keeps its slot, so
// the route needs an instance per request computing, not one per client.
func TestPoolsGrowAsFarAsRequestsCompute(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 8, GuestConcurrency: 1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				resp, err := http.Get(s.URL + "/api/hostile?case=count")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if st := stats(s, "/api/hostile"); st.Instances > 2 {
		t.Fatalf("8 clients on one CPU slot grew the route to %d instances, want at most 2", st.Instances)
	}
}

// TestIsolationPerRequest checks isolation = "request" (the plain app's
// /api/count): every request runs on an instance of its own, so its
// per-instance counter always says 1, and dropping those instances is not
// counted as a failure. Pooled routes of the same module keep their
// instances, and never pass one they used to the isolated route.
func TestIsolationPerRequest(t *testing.T) {
	s := serve(t, plainDir, host.Options{})
	count := func(round int) {
		t.Helper()
		for i := range 5 {
			if resp, body := s.do(t, "GET", "/api/count", ""); resp.StatusCode != 200 || body != "1" {
				t.Fatalf("round %d, request %d: %d %q, want a fresh instance (1)", round, i, resp.StatusCode, body)
			}
		}
	}
	count(0)
	if st := stats(s, "/api/count"); st.Discarded != 0 || st.Calls != 5 {
		t.Fatalf("stats %+v: want 5 calls and no instance counted as failed", st)
	}
	// Pooled requests reuse the instance they find; none is made or
	// dropped for them.
	waitFor(t, func() bool { st := stats(s, "/api/ok"); return st.Idle == st.Instances })
	before := stats(s, "/api/ok")
	for range 3 {
		s.do(t, "GET", "/api/ok", "")
	}
	if st := stats(s, "/api/ok"); st.Instances != before.Instances || st.Calls-before.Calls != 3 || st.Discarded != 0 {
		t.Fatalf("pooled requests beside it: %+v, before %+v", st, before)
	}
	count(1)
}

// TestFastStart serves an app whose module is not in the compilation cache
// with Options.FastStart (as wasmroute dev does): it answers from the
// interpreter while the compiler works, then from the compiled code, and
// the switch costs no request and counts no instance as failed.
func TestFastStart(t *testing.T) {
	s := serve(t, plainDir, host.Options{FastStart: true, CacheDir: t.TempDir()})
	if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("first request: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(s.logs.String(), `msg="serving from the interpreter while the module compiles"`) {
		t.Fatalf("the first request did not go to the interpreter:\n%s", s.logs)
	}
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), `msg="serving the compiled module"`) })
	for range 3 {
		if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("after the switch: %d %q", resp.StatusCode, body)
		}
	}
	if st := stats(s, "/api/ok"); st.Discarded != 0 {
		t.Fatalf("the switch counted failures: %+v", st)
	}
}

// TestClientLeavesWhileCompiling: a client that gives up while the module
// compiles is logged as aborted (499), not as served.
func TestClientLeavesWhileCompiling(t *testing.T) {
	s := serve(t, plainDir, host.Options{CacheDir: t.TempDir()}) // nothing cached: compiling takes a second or more
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := client.Get(s.URL + "/api/ok"); err == nil {
		t.Skip("the module compiled within 100 ms")
	}
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), "path=/api/ok route=/api/ok status=499") })
	if strings.Contains(s.logs.String(), "path=/api/ok route=/api/ok status=200") {
		t.Fatalf("the request the client left was logged as served:\n%s", s.logs)
	}
}
