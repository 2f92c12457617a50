package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// measureCache measures issue 13's targets: a cache hit on GET /api/posts
// against the native build running the same handler; a KV Get from a
// guest on Redis against bbolt; and two hosts on one Redis, from a
// revalidation on one until the other serves the regenerated list.
func measureCache(app, wrk, work, nativeBin, wasmrouteBin, cache string, duration time.Duration, conns int) error {
	fmt.Printf("\nCache and Redis (%s)\n", "go run ./scripts/bench -only cache")
	redisAddr, stopRedis, err := startRedis(work)
	if err != nil {
		return err
	}
	defer stopRedis()
	redisURL := "redis://" + redisAddr + "/0"

	// 1. A cache hit against native net/http running the handler.
	p, err := startPair(nativeBin, wasmrouteBin, app, cache)
	if err != nil {
		return err
	}
	if _, _, err := getWith(p.wasmAddr, "", "/api/posts"); err != nil { // the miss that fills the cache
		p.stop()
		return err
	}
	if _, state, err := getWith(p.wasmAddr, "", "/api/posts"); err != nil || state != "HIT" {
		p.stop()
		return fmt.Errorf("GET /api/posts: %s %v, want a HIT", state, err)
	}
	// The native equivalent: net/http writing the bytes of the cached
	// answer, headers and body, in this process.
	resp, err := http.Get("http://" + p.wasmAddr + "/api/posts")
	if err != nil {
		p.stop()
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	header := resp.Header.Clone()
	staticAddr := freeAddr()
	static := &http.Server{Addr: staticAddr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Write(body)
	})}
	go static.ListenAndServe()
	defer static.Close()
	if err := waitReady(staticAddr, 10*time.Second); err != nil {
		p.stop()
		return err
	}
	var res [3]wrkResult
	for i, srv := range []struct {
		addr string
		pid  int
	}{{staticAddr, os.Getpid()}, {p.nativeAddr, p.native.Process.Pid}, {p.wasmAddr, p.wasm.Process.Pid}} {
		url := "http://" + srv.addr + "/api/posts"
		if _, err := runWrk(wrk, url, 2*time.Second, conns, nil, srv.pid); err != nil {
			p.stop()
			return err
		}
		if res[i], err = runWrk(wrk, url, duration, conns, nil, srv.pid); err != nil {
			p.stop()
			return err
		}
	}
	p.stop()
	st, n, w := res[0], res[1], res[2]
	fmt.Printf("  cache hit, GET /api/posts (%d bytes), wrk -c%d -d%s, one server at a time:\n", len(body), conns, duration)
	fmt.Printf("    native net/http writing the same bytes %.0f req/s, server CPU %s per request, p99 %s\n", st.rps, fmtDur(st.serverCPU), fmtDur(st.p99))
	fmt.Printf("    native build of the app (the handler, KV in memory) %.0f req/s, CPU %s, p99 %s\n", n.rps, fmtDur(n.serverCPU), fmtDur(n.p99))
	fmt.Printf("    wasmroute, a HIT %.0f req/s (%.2fx the same bytes; target ≥ 0.8x), CPU %s (%.2fx), p99 %s\n",
		w.rps, w.rps/st.rps, fmtDur(w.serverCPU), float64(w.serverCPU)/float64(st.serverCPU), fmtDur(w.p99))

	// 2. KV Get from a guest: GET /api/users/42 reads one key. Sequential
	// requests, so the latency is the store's and not a queue's.
	var p50 [2]time.Duration
	for i, kvArgs := range [][]string{{"--data", filepath.Join(work, "bolt")}, {"--kv", redisURL}} {
		addr := freeAddr()
		srv, err := startServer(wasmrouteBin, append([]string{"start", app, "--addr", addr, "--cache-dir", cache, "--log-level", "error", "--cache", "off"}, kvArgs...)...)
		if err != nil {
			return err
		}
		if err := waitStatus("http://"+addr+"/api/users/42", 200, time.Minute); err != nil {
			stop(srv)
			return err
		}
		p50[i], err = sequentialP50(addr, "/api/users/42", 2000)
		stop(srv)
		if err != nil {
			return err
		}
	}
	fmt.Printf("  KV Get from a guest (GET /api/users/42, 2000 requests one at a time): p50 bbolt %s, Redis %s: Redis adds %s\n",
		fmtDur(p50[0]), fmtDur(p50[1]), fmtDur(p50[1]-p50[0]))

	// 3. Two hosts, one Redis: POST /api/posts on A revalidates the tag;
	// how long until B serves the list with the new post.
	var hosts [2]string
	for i := range hosts {
		hosts[i] = freeAddr()
		srv, err := startServer(wasmrouteBin, "start", app, "--addr", hosts[i], "--cache-dir", cache, "--log-level", "error",
			"--kv", redisURL, "--cache", redisURL)
		if err != nil {
			return err
		}
		defer stop(srv)
		if err := waitStatus("http://"+hosts[i]+"/api/hello", 200, time.Minute); err != nil {
			return err
		}
	}
	var took []time.Duration
	for round := range 5 {
		if _, _, err := getWith(hosts[1], "api.test", "/api/posts"); err != nil {
			return err
		}
		title := fmt.Sprintf("bench post %d", round)
		start := time.Now()
		resp, err := http.Post("http://"+hosts[0]+"/api/posts", "application/json", strings.NewReader(`{"title":"`+title+`","body":"x"}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			body, _, err := getWith(hosts[1], "api.test", "/api/posts")
			if err == nil && strings.Contains(body, title) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("host B never served %q", title)
			}
			time.Sleep(time.Millisecond) // the measurement's resolution
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	fmt.Printf("  two hosts, one Redis: from POST /api/posts on A (RevalidateTag) to B serving the new list: median %s, max %s (5 rounds)\n",
		fmtDur(took[len(took)/2]), fmtDur(took[len(took)-1]))
	return nil
}

// getWith sends GET path to addr with a Host header (none if ""), and
// returns the body and the cache state.
func getWith(addr, hostName, path string) (string, string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if hostName != "" {
		req.Host = hostName
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", "", fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b), resp.Header.Get("X-Wasmroute-Cache"), err
}

// sequentialP50 sends n GETs one after another and returns their median
// latency.
func sequentialP50(addr, path string, n int) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, _, err := getWith(addr, "", path); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds), nil
}

// startRedis runs redis-server on a free loopback port, without
// persistence, until the returned stop (which kills it by its PID).
func startRedis(work string) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server is not installed: apt-get install -y redis-server")
	}
	addr := freeAddr()
	_, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(work, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	kill := func() { cmd.Process.Kill(); cmd.Wait() }
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "Ready to accept connections") {
			go io.Copy(io.Discard, out)
			return addr, kill, nil
		}
	}
	kill()
	return "", nil, fmt.Errorf("redis-server exited before it was ready")
}
