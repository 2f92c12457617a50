package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/build"
)

const edgeToken = "bench-admin-token-0123456789"

// steady is an open-loop load: a request every 1/rate seconds, each on its
// own goroutine, whatever the server's pace, so a stall shows as requests
// waiting rather than as requests not sent.
type steady struct {
	sent, ok, failed, errs atomic.Int64
	mu                     sync.Mutex
	latencies              []time.Duration
	firstBad               string
	stop                   chan struct{}
	done                   sync.WaitGroup
}

// startSteady sends rate requests per second to what target picks (a URL
// and a Host header) until stopped.
func startSteady(rate int, target func() (url, host string)) *steady {
	s := &steady{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			url, host := target()
			s.sent.Add(1)
			s.done.Add(1)
			go func() {
				defer s.done.Done()
				req, _ := http.NewRequest("GET", url, nil)
				req.Host = host
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					s.errs.Add(1)
					s.bad(err.Error())
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				if resp.StatusCode != http.StatusOK {
					s.failed.Add(1)
					s.bad(fmt.Sprintf("%s %s: %d", host, url, resp.StatusCode))
					return
				}
				s.ok.Add(1)
				s.mu.Lock()
				s.latencies = append(s.latencies, took)
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

func (s *steady) bad(what string) {
	s.mu.Lock()
	if s.firstBad == "" {
		s.firstBad = what
	}
	s.mu.Unlock()
}

// finish stops sending, waits for the answers, and returns the median and
// 99th percentile latency of the good ones.
func (s *steady) finish() (p50, p99 time.Duration) {
	close(s.stop)
	s.done.Wait()
	slices.Sort(s.latencies)
	if n := len(s.latencies); n > 0 {
		return s.latencies[n/2], s.latencies[n*99/100]
	}
	return 0, 0
}

func (s *steady) String() string {
	out := fmt.Sprintf("%d sent, %d answered 200, %d other statuses, %d failed or dropped", s.sent.Load(), s.ok.Load(), s.failed.Load(), s.errs.Load())
	if s.firstBad != "" {
		out += " (first: " + s.firstBad + ")"
	}
	return out
}

// edgeHost is a `wasmroute serve` process.
type edgeHost struct {
	cmd           *exec.Cmd
	public, admin string
}

func startEdge(wasmrouteBin, data, cache string) (*edgeHost, error) {
	e := &edgeHost{public: freeAddr(), admin: freeAddr()}
	e.cmd = exec.Command(wasmrouteBin, "serve", "--data", data, "--addr", e.public, "--admin", e.admin,
		"--cache-dir", cache, "--log-level", "error")
	e.cmd.Env = append(os.Environ(), "WASMROUTE_ADMIN_TOKEN="+edgeToken, "API_TOKEN=bench")
	e.cmd.Stdout = io.Discard
	e.cmd.Stderr = os.Stderr
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	for _, a := range []string{e.public, e.admin} {
		if err := waitReady(a, time.Minute); err != nil {
			stop(e.cmd)
			return nil, err
		}
	}
	return e, nil
}

// cli runs the wasmroute CLI against the host and prints each line it
// writes to stderr with the time since it started; it returns the time
// it took.
func (e *edgeHost) cli(wasmrouteBin string, args ...string) (time.Duration, error) {
	args = append(args, "--to", "http://"+e.admin, "--token", edgeToken)
	cmd := exec.Command(wasmrouteBin, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		fmt.Printf("    %6.2fs  %s\n", time.Since(start).Seconds(), lines.Text())
	}
	err = cmd.Wait()
	took := time.Since(start)
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		fmt.Printf("    %6.2fs  %s\n", took.Seconds(), l)
	}
	return took, err
}

// get answers GET path for host.
func get(addr, host, path string) (int, string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// untilBody polls GET path for host until its body holds want.
func untilBody(addr, host, path, want string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, body, err := get(addr, host, path); err == nil && strings.Contains(body, want) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s%s did not answer %q within %s", host, path, want, limit)
}

// copyApp copies the app in src to dst, without its bundle and data, and
// points its go.mod at this checkout.
func copyApp(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && strings.HasPrefix(d.Name(), ".wasmroute") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		return err
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "mod", "edit", "-replace", "github.com/wasmroute/wasmroute="+repo)
	cmd.Dir = dst
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod edit: %v\n%s", err, out)
	}
	return nil
}

// measureEdge measures issue 12's targets on a `wasmroute serve` process:
// a second deploy of the app with one route changed, while a steady load
// of 200 requests a second runs through it and a rollback; and then 100
// apps deployed to one host. Each is set beside its native equivalent,
// measured in the same run.
func measureEdge(ctx context.Context, app, work, wasmrouteBin, cache string) error {
	fmt.Printf("\nEdge host (wasmroute serve; GET /api/hello; %s)\n", "go run ./scripts/bench -only edge")
	src := filepath.Join(work, "edgeapp")
	if err := copyApp(app, src); err != nil {
		return err
	}
	e, err := startEdge(wasmrouteBin, filepath.Join(work, "edge-data"), cache)
	if err != nil {
		return err
	}
	defer stop(e.cmd)
	fmt.Println("  first deploy (builds the app):")
	if _, err := e.cli(wasmrouteBin, "deploy", src, "--app", "api", "--domain", "api.test"); err != nil {
		return err
	}

	load := startSteady(200, func() (string, string) { return "http://" + e.public + "/api/hello", "api.test" })
	route := filepath.Join(src, "app", "api", "hello", "route.go")
	code, err := os.ReadFile(route)
	if err != nil {
		return err
	}
	if err := os.WriteFile(route, bytes.Replace(code, []byte(`"Hello World"`), []byte(`"Hello, second deploy"`), 1), 0o644); err != nil {
		return err
	}
	fmt.Println("  second deploy, GET /api/hello changed, under 200 req/s:")
	start := time.Now()
	if _, err := e.cli(wasmrouteBin, "deploy", src, "--app", "api"); err != nil {
		load.finish()
		return err
	}
	if err := untilBody(e.public, "api.test", "/api/hello", "second deploy", time.Minute); err != nil {
		load.finish()
		return err
	}
	deployTook := time.Since(start)
	fmt.Println("  rollback, under the same load:")
	start = time.Now()
	if _, err := e.cli(wasmrouteBin, "rollback", "--app", "api"); err != nil {
		load.finish()
		return err
	}
	if err := untilBody(e.public, "api.test", "/api/hello", "Hello World", time.Minute); err != nil {
		load.finish()
		return err
	}
	rollbackTook := time.Since(start)
	p50, p99 := load.finish()

	// The native equivalent: build the changed app as a native server and
	// start it, until it answers.
	start = time.Now()
	nativeBin := filepath.Join(work, "edge-native")
	if err := build.BuildNative(ctx, src, nativeBin); err != nil {
		return err
	}
	addr := freeAddr()
	native := exec.Command(nativeBin, addr)
	native.Env = append(os.Environ(), "API_TOKEN=bench")
	native.Stderr = os.Stderr
	if err := native.Start(); err != nil {
		return err
	}
	err = waitStatus("http://"+addr+"/api/hello", 200, time.Minute)
	nativeTook := time.Since(start)
	stop(native)
	if err != nil {
		return err
	}
	fmt.Printf("  second deploy, `wasmroute deploy` to the new code answering: %.2fs (target ≤ 5s); native go build + restart: %.2fs (%.2fx)\n",
		deployTook.Seconds(), nativeTook.Seconds(), deployTook.Seconds()/nativeTook.Seconds())
	fmt.Printf("  rollback to the old code answering: %.2fs\n", rollbackTook.Seconds())
	fmt.Printf("  steady load through both: %s; p50 %s, p99 %s\n", load, fmtDur(p50), fmtDur(p99))
	return measureHundredApps(wasmrouteBin, nativeBin, filepath.Join(src, bundle.DirName), filepath.Join(work, "edge-data-100"), cache, 100)
}

// measureHundredApps deploys the bundle in bundleDir as n apps to one
// fresh host, and measures its memory idle and a light load on random
// apps; then the same with n native processes, one per app.
func measureHundredApps(wasmrouteBin, nativeBin, bundleDir, data, cache string, n int) error {
	e, err := startEdge(wasmrouteBin, data, cache)
	if err != nil {
		return err
	}
	defer stop(e.cmd)
	pid := e.cmd.Process.Pid
	rss0, _ := processRSS(pid)
	m, err := bundle.Load(bundleDir)
	if err != nil {
		return err
	}
	admin := func(method, path string, body []byte) error {
		req, _ := http.NewRequest(method, "http://"+e.admin+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+edgeToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return nil
	}
	for _, mod := range m.Modules {
		bin, err := bundle.ReadModule(bundleDir, mod)
		if err != nil {
			return err
		}
		if err := admin("PUT", "/v1/modules/"+mod.SHA256, bin); err != nil {
			return err
		}
	}
	manifest, err := os.ReadFile(filepath.Join(bundleDir, bundle.VersionsDir, m.Version+".json"))
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range n {
		body, _ := json.Marshal(map[string]any{"manifest": json.RawMessage(manifest), "domains": []string{fmt.Sprintf("app%03d.test", i)}})
		if err := admin("POST", fmt.Sprintf("/v1/apps/app%03d/deploy", i), body); err != nil {
			return err
		}
	}
	deployed := time.Since(start)
	rssIdle, _ := processRSS(pid)
	pssIdle := processPSS(pid)

	const rate, seconds = 50, 10
	idle0, _ := threadsCPU(pid)
	time.Sleep(5 * time.Second) // the host idles for a fixed time
	idle1, _ := threadsCPU(pid)
	// Two windows of light load: in the first, each app's instance serves
	// its first requests (fresh pages of its copy-on-write memory); the
	// second is the steady state.
	type window struct {
		load     *steady
		p50, p99 time.Duration
		cpu      time.Duration
	}
	var windows [2]window
	for i := range windows {
		cpu0, _ := threadsCPU(pid)
		load := startSteady(rate, func() (string, string) {
			return "http://" + e.public + "/api/hello", fmt.Sprintf("app%03d.test", rand.IntN(n))
		})
		time.Sleep(seconds * time.Second) // the load runs for a fixed time
		p50, p99 := load.finish()
		cpu1, _ := threadsCPU(pid)
		windows[i] = window{load, p50, p99, (cpu1 - cpu0) / time.Duration(max(load.ok.Load(), 1))}
	}
	rssLoaded, _ := processRSS(pid)

	// n native servers, one per app.
	var natives []*exec.Cmd
	var addrs []string
	defer func() {
		for _, c := range natives {
			stop(c)
		}
	}()
	for _, addr := range freeAddrs(n) {
		cmd := exec.Command(nativeBin, addr)
		cmd.Env = append(os.Environ(), "API_TOKEN=bench")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		natives = append(natives, cmd)
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		if err := waitReady(a, time.Minute); err != nil {
			return err
		}
	}
	sum := func(f func(int) (uint64, error)) uint64 {
		var t uint64
		for _, c := range natives {
			v, _ := f(c.Process.Pid)
			t += v
		}
		return t
	}
	cpuSum := func() time.Duration {
		var t time.Duration
		for _, c := range natives {
			v, _ := threadsCPU(c.Process.Pid)
			t += v
		}
		return t
	}
	nativeIdle := sum(processRSS)
	ncpu0 := cpuSum()
	nload := startSteady(rate, func() (string, string) {
		return "http://" + addrs[rand.IntN(n)] + "/api/hello", "native.test"
	})
	time.Sleep(seconds * time.Second)
	np50, np99 := nload.finish()
	nativeCPU := (cpuSum() - ncpu0) / time.Duration(max(nload.ok.Load(), 1))

	fmt.Printf("\n  %d apps on one host (`wasmroute serve`) against %d native processes, one per app:\n", n, n)
	fmt.Printf("    deploying %d apps through the admin API: %.2fs, %s each\n", n, deployed.Seconds(), fmtDur(deployed/time.Duration(n)))
	fmt.Printf("    idle RSS: host with no apps %d MiB; with %d apps %d MiB (PSS %d MiB), %.1f MiB per app; native %d MiB in all, %.1f MiB per app (%.2fx)\n",
		rss0>>20, n, rssIdle>>20, pssIdle>>20, float64(rssIdle-rss0)/float64(n)/(1<<20), nativeIdle>>20,
		float64(nativeIdle)/float64(n)/(1<<20), float64(rssIdle)/float64(nativeIdle))
	fmt.Printf("    host CPU while idle, before the load: %.1f ms a second\n", float64(idle1-idle0)/float64(time.Millisecond)/5)
	fmt.Printf("    RSS after the load: %d MiB\n", rssLoaded>>20)
	fmt.Printf("    %d req/s for %ds to a random app, each load:\n", rate, seconds)
	for i, w := range windows {
		fmt.Printf("      wasmroute, window %d: %s; p50 %s, p99 %s (%.2fx native); server CPU %s per request (%.1fx native)\n", i+1, w.load,
			fmtDur(w.p50), fmtDur(w.p99), float64(w.p99)/float64(np99), fmtDur(w.cpu), float64(w.cpu)/float64(nativeCPU))
	}
	fmt.Printf("      native, one window:  %s; p50 %s, p99 %s; server CPU %s per request\n", nload, fmtDur(np50), fmtDur(np99), fmtDur(nativeCPU))
	return nil
}

// threadsCPU returns the time process pid's threads have run, summed
// from /proc/PID/task/*/schedstat in nanoseconds: /proc/PID/stat counts in
// 10 ms ticks, too coarse for 100 processes each serving a few requests.
func threadsCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of %d in /proc", pid)
	}
	var total time.Duration
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		var ns int64
		fmt.Sscan(string(b), &ns)
		total += time.Duration(ns)
	}
	return total, nil
}

// freeAddrs returns n distinct loopback addresses no one listens on: all
// are held open until all are chosen, so none is handed out twice.
func freeAddrs(n int) []string {
	var addrs []string
	var held []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		held = append(held, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range held {
		ln.Close()
	}
	return addrs
}

// processPSS returns the proportional set size of process pid, from
// /proc/PID/smaps_rollup: shared pages divided among the processes that
// map them. 0 if unknown.
func processPSS(pid int) uint64 {
	n, _ := procFileKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	return n
}
