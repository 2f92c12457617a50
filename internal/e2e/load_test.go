package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/httpserver"
)

// TestHugeResponse checks that a response far larger than any buffer
// streams through without the host holding it, and that one that never ends
// is cut at MaxDuration with the instance replaced.
func TestHugeResponse(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	// Compiling modules grows the heap: finish the background warm-up first.
	if err := s.host.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := heapAfterGC()
	resp, err := http.Get(s.URL + "/api/huge?mb=256")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != 256<<20 {
		t.Fatalf("256 MiB response: %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	if grew := int64(heapAfterGC()) - int64(before); grew > 16<<20 {
		t.Errorf("host heap grew by %d MiB serving 256 MiB", grew>>20)
	}

	resp, err = http.Get(s.URL + "/api/huge?forever=1")
	if err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("endless response: %d, %d bytes, error %v; want 200 and a cut stream", resp.StatusCode, n, err)
	}
	// The host logs as it cuts the stream; the client may see the cut first.
	waitFor(t, func() bool {
		return strings.Contains(s.logs.String(), `msg="guest exceeded its time limit; instance discarded"`)
	})
	if resp, body := s.do(t, "GET", "/api/huge?mb=1", ""); resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Fatalf("after the cut: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestLoadWithFaults hits a healthy route from many clients while every
// kind of broken guest is hit in parallel. No healthy request may fail or
// hang; afterwards no instance is busy, none leaked past the limit, and
// goroutines and memory return to their level.
func TestLoadWithFaults(t *testing.T) {
	// One module serves the healthy and the broken routes: the faults that
	// hold an instance until their time limit need places of their own.
	const maxInstances = 8
	s := serve(t, faultyDir, host.Options{MemoryLimitPages: 512, MaxInstances: maxInstances})
	if err := s.host.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second} // a hang fails instead of blocking the suite
	get := func(path string) (int, string, error) {
		resp, err := client.Get(s.URL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	// Warm the faulty routes too, then take the baseline.
	for _, p := range []string{"/api/ok", "/api/panic", "/api/trap"} {
		get(p)
	}
	client.CloseIdleConnections()
	goroutines, heap, rss := runtime.NumGoroutine(), heapAfterGC(), residentBytes()

	faults := []string{"/api/panic", "/api/panicmid", "/api/trap", "/api/deadlock", "/api/exit", "/api/hog",
		"/api/mwpanic", "/api/huge?forever=1", "/api/spin"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	healthy := 0
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				status, body, err := get("/api/ok")
				mu.Lock()
				if err != nil || status != 200 || !strings.HasPrefix(body, "ok ") {
					failures = append(failures, fmt.Sprintf("GET /api/ok: %d %q %v", status, body, err))
				}
				healthy++
				mu.Unlock()
			}
		}()
	}
	for w, path := range faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rounds := 6
			if strings.Contains(path, "spin") || strings.Contains(path, "forever") {
				rounds = 1 // each holds an instance until MaxDuration
			}
			for i := 0; i < rounds; i++ {
				status, _, err := get(path)
				if err == nil && status < 500 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("fault %d %s answered %d", w, path, status))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if healthy != 8*60 {
		t.Fatalf("%d healthy requests finished, want %d", healthy, 8*60)
	}

	client.CloseIdleConnections()
	s.CloseClientConnections()
	for _, st := range s.host.Stats() {
		if st.Instances != st.Idle || st.Instances > maxInstances {
			t.Errorf("module %.12s: %d instances, %d idle after the load (limit %d)", st.Module, st.Instances, st.Idle, maxInstances)
		}
	}
	if st := stats(s, "/api/trap"); st.Discarded == 0 {
		t.Errorf("the module kept instances that failed")
	}
	// Every instance after the first was a clone of the snapshot.
	if logs := s.logs.String(); !strings.Contains(logs, snapshotTaken) || strings.Contains(logs, "cannot be cloned") {
		t.Errorf("the faults were not served by clones:\n%s", logs)
	}
	// Connection goroutines end when their connections close, which the
	// server sees asynchronously: wait for the count, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines+2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the load, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	heapAfter, rssAfter := heapAfterGC(), residentBytes()
	t.Logf("Go heap %d -> %d MiB, resident %d -> %d MiB", heap>>20, heapAfter>>20, rss>>20, rssAfter>>20)
	if heapAfter > heap+32<<20 {
		t.Errorf("Go heap grew from %d to %d MiB", heap>>20, heapAfter>>20)
	}
	// Each module may now have up to maxInstances live instances where it
	// had one; their memories are the only growth allowed.
	if limit := rss + uint64(len(s.host.Stats()))*maxInstances*8<<20; rss > 0 && !raceEnabled && rssAfter > limit {
		t.Errorf("resident memory grew from %d to %d MiB", rss>>20, rssAfter>>20)
	}
}

// maxInstances is the most instances any module of h has.
func maxInstances(h *host.Host) int {
	n := 0
	for _, st := range h.Stats() {
		n = max(n, st.Instances)
	}
	return n
}

// heapAfterGC returns the live Go heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// residentBytes returns the process's resident memory after the Go heap
// gave its free pages back, or 0 where /proc does not say.
func residentBytes() uint64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// TestGuestConcurrency runs the host with one CPU slot: a guest that
// computes gives it up every quantum, and one that sleeps gives it up while it
// waits, so neither holds up other requests for its duration. A sleep past
// MaxDuration ends at MaxDuration.
func TestGuestConcurrency(t *testing.T) {
	s := serve(t, faultyDir, host.Options{GuestConcurrency: 1})
	if err := s.host.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, route string
		computing   int // slots the slow call holds while it runs
	}{{"/api/spin", "/api/spin", 1}, {"/api/huge?sleep=1", "/api/huge", 0}} {
		t.Run(tt.path, func(t *testing.T) {
			done := make(chan int, 1)
			go func() {
				resp, err := http.Get(s.URL + tt.path)
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			// Wait until the slow call is in its guest, computing or asleep.
			waitFor(t, func() bool {
				st := stats(s, tt.route)
				return st.Instances-st.Idle == 1 && st.Computing == tt.computing
			})
			if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok ") {
				t.Fatalf("GET /api/ok beside %s: %d %q", tt.path, resp.StatusCode, body)
			}
			if st := stats(s, tt.route); st.Instances-st.Idle != 1 {
				t.Fatalf("%s ended before the healthy request could run: %+v", tt.path, st)
			}
			if status := <-done; status != 504 {
				t.Fatalf("%s: %d, want 504 at its MaxDuration", tt.path, status)
			}
		})
	}
}

// stats returns the stats of the module serving the route with pattern.
func stats(s *server, pattern string) host.ModuleStats {
	for _, st := range s.host.Stats() {
		if slices.Contains(st.Routes, pattern) {
			return st
		}
	}
	return host.ModuleStats{}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		runtime.Gosched()
	}
}

// TestLoadWithHostileClients holds 10 clients that send their bodies too
// slowly, 10 that never read their responses, 50 idle keep-alive
// connections and a guest that hoards sockets against a host behind the
// CLI's server, while healthy clients make requests to the same routes and
// others. No healthy request may fail, and once the idle timeout has passed
// the process is back to its descriptors and goroutines from before.
// Run it with -v to see the figures.
func TestLoadWithHostileClients(t *testing.T) {
	const idle = 2 * time.Second
	logs := &logBuffer{}
	h, err := host.New(filepath.Join(faultyDir, bundle.DirName), host.Options{
		Logger: slog.New(slog.NewTextHandler(logs, nil)), CacheDir: cacheDir, LookupSecret: testSecrets,
		MaxDuration: 2 * time.Second, MaxInstances: 8, IdleInstanceTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	srv, err := httpserver.Listen("127.0.0.1:0", h, httpserver.Options{IdleTimeout: idle, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Serve(ctx)
	addr := srv.Addr().String()
	if err := h.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	healthyClient := &http.Client{Timeout: 30 * time.Second}
	get := func(method, path, body string) error {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		resp, err := healthyClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != 200 || (body != "" && string(b) != body)) {
			err = fmt.Errorf("%s %s: %d %.40q", method, path, resp.StatusCode, b)
		}
		return err
	}
	for _, p := range []string{"/api/ok", "/api/hostile?case=whole"} {
		get("GET", p, "")
	}
	healthyClient.CloseIdleConnections()
	fds, goroutines, rss := openFDs(t), runtime.NumGoroutine(), residentBytes()

	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		return conn
	}
	var hostile []net.Conn
	for range 10 { // promise 1000 bytes, send 5
		conn := dial()
		io.WriteString(conn, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello")
		hostile = append(hostile, conn)
	}
	for range 10 { // ask for 64 MiB, read nothing
		conn := dial()
		conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(conn, "GET /api/huge?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n")
		hostile = append(hostile, conn)
	}
	var idleConns []net.Conn
	for range 50 { // one request, then silence
		conn := dial()
		io.WriteString(conn, "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		idleConns = append(idleConns, conn)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	healthy := 0
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		healthy++
		if err != nil {
			failures = append(failures, err.Error())
		}
	}
	for range 3 { // sockets hoarded by a guest, and let go with its instance
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := get("GET", "/api/hostile?case=hoard", ""); err != nil {
				t.Errorf("hoarding guest: %v", err)
			}
		}()
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				switch {
				case w == 0 && i%10 == 0: // the route the slow senders hold
					record(get("POST", "/api/echo", "healthy "+strconv.Itoa(i)))
				case w == 1 && i%10 == 0: // the route the non-readers hold
					record(get("GET", "/api/huge?mb=1", ""))
				default:
					record(get("GET", "/api/ok", ""))
				}
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	// The host cut the hostile clients: the slow senders got their 408 and
	// the end of the connection. The server closes the idle ones once the
	// idle timeout passes. The non-readers cannot see the end behind the
	// response they never read; the server closed its side (net/http does
	// on a failed write), which the descriptor count below shows once the
	// test closes its own.
	waitFor(t, func() bool { return strings.Count(logs.String(), "client too slow reading the response") == 10 })
	for i, conn := range append(hostile[:10], idleConns...) {
		if _, err := io.Copy(io.Discard, conn); err != nil {
			t.Errorf("the server did not close connection %d (slow senders 0-9, idle 10-59): %v", i, err)
		}
	}
	for _, conn := range append(hostile, idleConns...) {
		conn.Close()
	}
	healthyClient.CloseIdleConnections()
	// Idle instances beyond one per module close after the same timeout.
	deadline := time.Now().Add(2*idle + 5*time.Second)
	for (openFDs(t) > fds || runtime.NumGoroutine() > goroutines+2 || maxInstances(h) > 1) && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	fdsAfter, goroutinesAfter, rssAfter := openFDs(t), runtime.NumGoroutine(), residentBytes()
	t.Logf("hostile load: %d healthy requests, %d failed; fds %d -> %d, goroutines %d -> %d, RSS %d -> %d MiB",
		healthy, len(failures), fds, fdsAfter, goroutines, goroutinesAfter, rss>>20, rssAfter>>20)
	for _, st := range h.Stats() {
		if st.Instances > 1 {
			t.Logf("module %.12s: %+v", st.Module, st)
		}
	}
	if fdsAfter > fds || goroutinesAfter > goroutines+2 || maxInstances(h) > 1 {
		t.Errorf("not back to the baseline %s after the load", 2*idle+5*time.Second)
	}
	// Each module is back to one instance; what remains is the Go heap's
	// slack and the kernel's accounting.
	if rss > 0 && !raceEnabled && rssAfter > rss+32<<20 {
		t.Errorf("resident memory grew from %d to %d MiB", rss>>20, rssAfter>>20)
	}
	for _, want := range []string{"client too slow sending the request body", "client too slow reading the response", "outbound network denied"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
