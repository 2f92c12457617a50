// Command bench measures wasmroute against the native net/http equivalent of
// the same app in one run, so every figure comes with its baseline.
//
//	go run ./scripts/bench [-d 10s] [-c 50] [-app examples/api] [-only load|guest|modules|timelimits]
//
// It builds the app twice, as a wasmroute bundle and as one native net/http
// binary serving the same handler code, starts each as its own process on
// loopback, loads both with wrk (installed from Debian's packages if missing)
// for GET /api/hello, GET /api/users/42 and POST /api/users, and prints req/s,
// p50 and p99 for both and their ratio, and the CPU time each request cost
// the server and wrk. It then times the same Go code natively and as
// WebAssembly with the probe app in scripts/bench/probe, and prints wazero
// compile time per module (no cache, and a warm cache in a new process),
// instance creation time, process start to first 200 with a warm cache, and
// what the time limit costs: the same requests in process with the build's
// loop countdown, with no limit at all, and with wazero's
// WithCloseOnContextDone.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/build"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-compile-cached" {
		// Child mode: compile every module of a bundle with a warm cache in
		// a fresh process, and print the mean time per module.
		mean, _, err := compileAll(context.Background(), os.Args[2], os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(fmtDur(mean))
		return
	}
	if len(os.Args) > 4 && os.Args[1] == "-many-apps" {
		n, _ := strconv.Atoi(os.Args[4])
		if err := manyAppsChild(os.Args[2], os.Args[3], n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	duration := flag.Duration("d", 10*time.Second, "load duration per endpoint and server")
	conns := flag.Int("c", 50, "concurrent connections")
	app := flag.String("app", "examples/api", "app directory to benchmark")
	only := flag.String("only", "", `run one part: "load", "guest", "modules", "shape", "timelimits", "edge" or "cache" (default: all)`)
	before := flag.String("before", "", "a git revision whose build the shape part measures beside this one")
	probe := flag.String("probe", filepath.Join("scripts", "bench", "probe"), "the probe app for the guest code speed part")
	flag.Parse()
	if err := run(*app, *probe, *before, *duration, *conns, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type endpoint struct {
	name, method, path, body string
}

var endpoints = []endpoint{
	{"GET /api/hello", "GET", "/api/hello", ""},
	{"GET /api/users/42", "GET", "/api/users/42", ""},
	{"POST /api/users", "POST", "/api/users", `{"name":"Ada","email":"ada@example.com"}`},
}

func run(app, probe, before string, duration time.Duration, conns int, only string) error {
	ctx := context.Background()
	wrk, err := ensureWrk()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "wasmroute-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	fmt.Printf("wasmroute benchmark — %s, GOMAXPROCS %d, %s %s/%s\n", time.Now().UTC().Format("2006-01-02"),
		runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	res, err := build.Build(ctx, app, build.Options{})
	if err != nil {
		return err
	}
	fmt.Printf("built %d routes in %.1fs\n", len(res.Manifest.Routes), res.Duration.Seconds())
	nativeBin := filepath.Join(work, "native")
	if err := build.BuildNative(ctx, app, nativeBin); err != nil {
		return err
	}
	wasmrouteBin := filepath.Join(work, "wasmroute")
	if out, err := exec.Command("go", "build", "-o", wasmrouteBin, "./cmd/wasmroute").CombinedOutput(); err != nil {
		return fmt.Errorf("building the CLI: %v\n%s", err, out)
	}
	bundleDir := filepath.Join(app, bundle.DirName)
	cache := filepath.Join(work, "cache")

	// Fill the compilation cache first, so the wasmroute server does not
	// compile in the background while the native one is measured.
	if _, _, err := compileAll(ctx, bundleDir, cache); err != nil {
		return err
	}

	if only == "" || only == "load" {
		if err := measureLoad(app, wrk, work, nativeBin, wasmrouteBin, cache, duration, conns); err != nil {
			return err
		}
	}
	if only == "" || only == "guest" {
		if err := measureGuestSpeed(ctx, probe, work, wasmrouteBin); err != nil {
			return err
		}
	}
	if only == "" || only == "modules" {
		fmt.Println()
		if err := measureModules(ctx, bundleDir, cache); err != nil {
			return err
		}
		if err := measureColdStart(wasmrouteBin, app, cache); err != nil {
			return err
		}
	}
	if only == "" || only == "shape" {
		builds := []*shapeBuild{{name: "this build", cli: wasmrouteBin, app: app}}
		if before != "" {
			b, err := prepareBefore(before, app, work)
			defer removeWorktree(work)
			if err != nil {
				return err
			}
			builds = append(builds, b)
		}
		if err := measureShape(builds, work); err != nil {
			return err
		}
		fmt.Println()
		if err := measureIsolation(bundleDir, work, cache); err != nil {
			return err
		}
		if err := measureManyApps(bundleDir, cache, 100); err != nil {
			return err
		}
	}
	if only == "" || only == "timelimits" {
		if err := measureTimeLimits(ctx, app, bundleDir, filepath.Join(work, "plain"), cache); err != nil {
			return err
		}
	}
	if only == "" || only == "edge" {
		if err := measureEdge(ctx, app, work, wasmrouteBin, cache); err != nil {
			return err
		}
	}
	if only == "" || only == "cache" {
		return measureCache(app, wrk, work, nativeBin, wasmrouteBin, cache, duration, conns)
	}
	return nil
}

// measureLoad runs both servers under wrk, one endpoint at a time, and
// prints the table.
func measureLoad(app, wrk, work, nativeBin, wasmrouteBin, cache string, duration time.Duration, conns int) error {
	p, err := startPair(nativeBin, wasmrouteBin, app, cache)
	if err != nil {
		return err
	}
	defer p.stop()
	native, wasm, nativeAddr, wasmAddr := p.native, p.wasm, p.nativeAddr, p.wasmAddr

	fmt.Printf("\nLoad: wrk -t2 -c%d -d%s --latency, one endpoint and server at a time, after a 2s warm-up;\n", conns, duration)
	fmt.Printf("both servers run the app's middleware and keep its KV store in memory\n\n")
	fmt.Printf("%-20s %12s %12s %7s | %9s %9s %9s %9s %6s\n", "endpoint", "native rps", "wasm rps", "ratio", "nat p50", "wasm p50", "nat p99", "wasm p99", "p99 x")
	script := filepath.Join(work, "post.lua")
	var cpu [][2]wrkResult
	for _, ep := range endpoints {
		var args []string
		if ep.method == "POST" {
			lua := fmt.Sprintf("wrk.method = %q\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", ep.method, ep.body)
			if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
				return err
			}
			args = []string{"-s", script}
		}
		var results [2]wrkResult
		for i, srv := range []struct {
			addr string
			cmd  *exec.Cmd
		}{{nativeAddr, native}, {wasmAddr, wasm}} {
			url := "http://" + srv.addr + ep.path
			if _, err := runWrk(wrk, url, 2*time.Second, conns, args, srv.cmd.Process.Pid); err != nil {
				return err
			}
			results[i], err = runWrk(wrk, url, duration, conns, args, srv.cmd.Process.Pid)
			if err != nil {
				return err
			}
		}
		n, w := results[0], results[1]
		fmt.Printf("%-20s %12.0f %12.0f %6.2fx | %9s %9s %9s %9s %5.2fx\n", ep.name, n.rps, w.rps, w.rps/n.rps,
			fmtDur(n.p50), fmtDur(w.p50), fmtDur(n.p99), fmtDur(w.p99), float64(w.p99)/float64(n.p99))
		cpu = append(cpu, [2]wrkResult{n, w})
	}
	printCPU(cpu)
	nativeRSS, err1 := processRSS(native.Process.Pid)
	wasmRSS, err2 := processRSS(wasm.Process.Pid)
	if err1 == nil && err2 == nil {
		fmt.Printf("\nResident memory after the load (VmRSS): native %d MiB, wasmroute %d MiB\n", nativeRSS>>20, wasmRSS>>20)
	}
	return nil
}

// printCPU prints the CPU time each request cost the server and the load
// generator. On a saturated machine req/s is the cores over the sum of the
// two, so the table shows how far the wasmroute server's own cost is from
// the budget that 0.6x native req/s leaves it.
func printCPU(cpu [][2]wrkResult) {
	fmt.Printf("\nCPU time per request (user+system, from /proc and wrk's rusage):\n")
	fmt.Printf("%-20s %12s %12s %9s %12s | %20s\n", "endpoint", "native srv", "wasm srv", "ratio", "wrk", "wasm srv at 0.6x rps")
	for i, ep := range endpoints {
		n, w := cpu[i][0], cpu[i][1]
		if n.serverCPU == 0 || w.serverCPU == 0 {
			continue // no /proc here
		}
		// The budget: (native server + wrk) / 0.6, less what wrk itself needs.
		budget := time.Duration(float64(n.serverCPU+n.clientCPU)/0.6) - w.clientCPU
		fmt.Printf("%-20s %12s %12s %8.1fx %12s | %20s\n", ep.name, fmtDur(n.serverCPU), fmtDur(w.serverCPU),
			float64(w.serverCPU)/float64(n.serverCPU), fmtDur(w.clientCPU), fmtDur(budget))
	}
}

// probeWorks are the probe's works, the whole first and then its parts
// (scripts/bench/probe/app/api/probe/route.go).
var probeWorks = []string{"users42", "request", "middleware", "store", "json"}

// measureGuestSpeed times the same Go code natively and as WebAssembly. The
// probe app's route runs a piece of examples/api's work many times within
// one call and reports the mean, so neither the network nor the host is in
// the figure: it is how fast the code itself runs.
func measureGuestSpeed(ctx context.Context, probe, work, wasmrouteBin string) error {
	if _, err := build.Build(ctx, probe, build.Options{}); err != nil {
		return fmt.Errorf("building the probe app: %w", err)
	}
	nativeBin := filepath.Join(work, "probe-native")
	if err := build.BuildNative(ctx, probe, nativeBin); err != nil {
		return fmt.Errorf("building the probe app natively: %w", err)
	}
	p, err := startPair(nativeBin, wasmrouteBin, probe, filepath.Join(work, "probe-cache"))
	if err != nil {
		return err
	}
	defer p.stop()
	nativeAddr, wasmAddr := p.nativeAddr, p.wasmAddr
	const rounds, n = 5, 2000
	fmt.Printf("\nGuest code speed: examples/api's work for GET /api/users/42, run %d times in one call\n", n)
	fmt.Printf("(scripts/bench/probe; median of %d rounds, servers interleaved)\n\n", rounds)
	fmt.Printf("%-22s %12s %12s %8s\n", "work", "native", "wasm", "ratio")
	var parts [2]time.Duration
	for i, name := range probeWorks {
		var times [2][]time.Duration
		for range rounds {
			for k, addr := range []string{nativeAddr, wasmAddr} {
				d, err := probeTime(addr, name, n)
				if err != nil {
					return err
				}
				times[k] = append(times[k], d)
			}
		}
		nat, w := median(times[0]), median(times[1])
		if i > 0 {
			parts[0] += nat
			parts[1] += w
		}
		fmt.Printf("%-22s %12s %12s %7.1fx\n", name, fmtDur(nat), fmtDur(w), float64(w)/float64(nat))
	}
	fmt.Printf("%-22s %12s %12s\n", "sum of the parts", fmtDur(parts[0]), fmtDur(parts[1]))
	return nil
}

// probeTime asks the probe route on addr to run work n times and returns its
// mean time per run.
func probeTime(addr, work string, n int) (time.Duration, error) {
	resp, err := http.Get(fmt.Sprintf("http://%s/api/probe?work=%s&n=%d", addr, work, n))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		NsPerOp int64 `json:"ns_per_op"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.NsPerOp <= 0 {
		return 0, fmt.Errorf("probe %s on %s: status %d, %v", work, addr, resp.StatusCode, err)
	}
	return time.Duration(out.NsPerOp), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

// timeLimitPaths are the requests measureTimeLimits times: the benchmark's
// route, and one that loops over a page of users.
var timeLimitPaths = []string{"/api/users/42", "/api/users?page=2&limit=10"}

// measureTimeLimits prints the in-process cost of a request under each way
// of enforcing the time limit, as a ratio to the same request with none.
// The bundle without the countdown goes to plainDir.
func measureTimeLimits(ctx context.Context, app, bundleDir, plainDir, cache string) error {
	if _, err := build.Build(ctx, app, build.Options{OutDir: plainDir, NoLoopCheck: true}); err != nil {
		return err
	}
	modes := []struct {
		name   string
		bundle string
		opts   host.Options
	}{
		{"no time limit", plainDir, host.Options{}},
		{"loop countdown (default)", bundleDir, host.Options{}},
		{"WithCloseOnContextDone", plainDir, host.Options{CloseOnContextDone: true}},
	}
	hosts := make([]*host.Host, len(modes))
	for i, m := range modes {
		m.opts.CacheDir, m.opts.Logger = cache, slog.New(slog.NewTextHandler(io.Discard, nil))
		m.opts.LookupSecret = func(string) (string, bool) { return "bench", true }
		h, err := host.New(m.bundle, m.opts)
		if err != nil {
			return err
		}
		defer h.Close(ctx)
		if err := h.Warm(ctx); err != nil {
			return err
		}
		hosts[i] = h
	}
	fmt.Printf("\nTime limit cost, in process (median of 7 rounds of 300 requests, modes interleaved):\n")
	fmt.Printf("%-28s", "mode")
	for _, p := range timeLimitPaths {
		fmt.Printf(" %26s", "GET "+p)
	}
	fmt.Println()
	var base []time.Duration
	for i, m := range modes {
		fmt.Printf("%-28s", m.name)
		for j, p := range timeLimitPaths {
			d, err := perRequest(hosts, i, p)
			if err != nil {
				return err
			}
			if i == 0 {
				base = append(base, d)
			}
			fmt.Printf(" %17s (%5.2fx)", fmtDur(d), float64(d)/float64(base[j]))
		}
		fmt.Println()
	}
	return nil
}

// perRequest times path on hosts[i], interleaving rounds on every host so
// that the machine's drift hits each mode alike, and returns the median of
// the rounds' mean times.
func perRequest(hosts []*host.Host, i int, path string) (time.Duration, error) {
	const rounds, n = 7, 300
	var means []time.Duration
	for r := 0; r < rounds; r++ {
		for k, h := range hosts {
			start := time.Now()
			for j := 0; j < n; j++ {
				w := &discardWriter{header: http.Header{}}
				h.ServeHTTP(w, (&http.Request{Method: "GET", URL: mustURL(path), RequestURI: path, Proto: "HTTP/1.1",
					ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Host: "bench", RemoteAddr: "127.0.0.1:1"}).WithContext(context.Background()))
				if w.status != 200 {
					return 0, fmt.Errorf("GET %s: status %d", path, w.status)
				}
			}
			if k == i {
				means = append(means, time.Since(start)/n)
			}
		}
	}
	return median(means), nil
}

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func mustURL(s string) *url.URL {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		panic(err)
	}
	return u
}

// measureModules prints compile and instantiation times.
func measureModules(ctx context.Context, bundleDir, cache string) error {
	m, err := bundle.Load(bundleDir)
	if err != nil {
		return err
	}
	mean, size, err := compileAll(ctx, bundleDir, "")
	if err != nil {
		return err
	}
	fmt.Printf("wazero compile, no cache:            %8s per module (mean of %d, %.1f MB each)\n", fmtDur(mean), len(m.Modules), float64(size)/1e6)

	// The cache was filled before the load test; read it from a new process.
	out, err := exec.Command(os.Args[0], "-compile-cached", bundleDir, cache).Output()
	if err != nil {
		return fmt.Errorf("compile in a new process: %w", err)
	}
	fmt.Printf("wazero compile, warm cache, new proc: %8s per module\n", strings.TrimSpace(string(out)))

	return nil
}

func mustCache(dir string) wazero.CompilationCache {
	c, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		panic(err)
	}
	return c
}

// compileAll compiles every module of a bundle in a new runtime, with the
// compilation cache in cacheDir ("" for none), and returns the mean time and
// size per module.
func compileAll(ctx context.Context, bundleDir, cacheDir string) (mean time.Duration, size int64, err error) {
	cfg := wazero.NewRuntimeConfig()
	if cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return 0, 0, err
		}
		cfg = cfg.WithCompilationCache(c)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	defer rt.Close(ctx)
	m, err := bundle.Load(bundleDir)
	if err != nil {
		return 0, 0, err
	}
	var total time.Duration
	for _, mod := range m.Modules {
		bin, err := bundle.ReadModule(bundleDir, mod)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		if _, err := rt.CompileModule(ctx, bin); err != nil {
			return 0, 0, err
		}
		total += time.Since(start)
		size += mod.Size
	}
	n := int64(len(m.Modules))
	return total / time.Duration(n), size / n, nil
}

// measureColdStart times process start to the first 200 from GET
// /api/users/42, with a warm compilation cache, five times.
func measureColdStart(bin, app, cache string) error {
	var times []time.Duration
	for i := 0; i < 5; i++ {
		addr := freeAddr()
		start := time.Now()
		cmd, err := startServer(bin, "start", app, "--addr", addr, "--cache-dir", cache, "--log-level", "error", "--kv-memory")
		if err != nil {
			return err
		}
		err = waitStatus("http://"+addr+"/api/users/42", 200, 30*time.Second)
		elapsed := time.Since(start)
		stop(cmd)
		if err != nil {
			return err
		}
		times = append(times, elapsed)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("process start -> first 200, warm cache: %6s median of 5 (min %s, max %s)\n", fmtDur(times[2]), fmtDur(times[0]), fmtDur(times[4]))
	return nil
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	// serverCPU and clientCPU are the CPU time the server and wrk spent
	// per request (0 where /proc is missing).
	serverCPU, clientCPU time.Duration
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reqRe = regexp.MustCompile(`(\d+) requests in`)
	pctRe = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

// runWrk loads url for d and reads wrk's report. pid is the server
// being loaded, whose CPU time is sampled around the run.
func runWrk(wrk, url string, d time.Duration, conns int, extra []string, pid int) (wrkResult, error) {
	args := append([]string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}, extra...)
	cmd := exec.Command(wrk, append(args, url)...)
	before, cpuErr := processCPU(pid)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	after, cpuErr2 := processCPU(pid)
	s := string(out)
	if strings.Contains(s, "Non-2xx") || strings.Contains(s, "Socket errors") {
		return wrkResult{}, fmt.Errorf("wrk saw errors against %s:\n%s", url, s)
	}
	var r wrkResult
	m := rpsRe.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reqRe.FindStringSubmatch(s); m != nil && cpuErr == nil && cpuErr2 == nil {
		if n, _ := strconv.ParseFloat(m[1], 64); n > 0 {
			r.serverCPU = time.Duration(float64(after-before) / n)
			r.clientCPU = time.Duration(float64(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()) / n)
		}
	}
	for _, p := range pctRe.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[p[3]]
		if p[1] == "50" {
			r.p50 = time.Duration(v * float64(unit))
		} else {
			r.p99 = time.Duration(v * float64(unit))
		}
	}
	return r, nil
}

// ensureWrk finds wrk, installing Debian's package if it is missing.
func ensureWrk() (string, error) {
	if p, err := exec.LookPath("wrk"); err == nil {
		return p, nil
	}
	fmt.Println("wrk not found; installing it with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w (install wrk by hand)", strings.Join(args, " "), err)
		}
	}
	return exec.LookPath("wrk")
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverPair is an app served twice on loopback: by its native build and by
// wasmroute.
type serverPair struct {
	native, wasm         *exec.Cmd
	nativeAddr, wasmAddr string
}

// startPair starts nativeBin and `wasmroute start app` and waits until both
// listen. Both keep the app's KV store in memory (the native one uses
// guest/kv's in-memory store), so a comparison is of execution, not of
// storage.
func startPair(nativeBin, wasmrouteBin, app, cache string) (*serverPair, error) {
	p := &serverPair{nativeAddr: freeAddr(), wasmAddr: freeAddr()}
	var err error
	if p.native, err = startServer(nativeBin, p.nativeAddr); err != nil {
		return nil, err
	}
	p.wasm, err = startServer(wasmrouteBin, "start", app, "--addr", p.wasmAddr, "--cache-dir", cache, "--log-level", "error", "--kv-memory")
	if err != nil {
		stop(p.native)
		return nil, err
	}
	for _, a := range []string{p.nativeAddr, p.wasmAddr} {
		if err := waitReady(a, 2*time.Minute); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

func (p *serverPair) stop() {
	stop(p.native)
	stop(p.wasm)
}

func startServer(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	if cmd.Process != nil && cmd.ProcessState == nil {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}
}

// processCPU returns the user and system CPU time process pid has used, from
// /proc/PID/stat (Linux only; elsewhere an error).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(b))
}

// processRSS returns the resident memory of process pid, from
// /proc/PID/status (Linux only; elsewhere an error).
func processRSS(pid int) (uint64, error) {
	return procFileKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
}

// procFileKB reads the "key N kB" line of a /proc file, in bytes.
func procFileKB(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return procKB(string(b), key)
}

// procKB reads the "key N kB" line of /proc text (status, meminfo,
// smaps_rollup), in bytes.
func procKB(text, key string) (uint64, error) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no %s line in kB", key)
}

// statCPU reads utime and stime, fields 14 and 15 of a /proc/PID/stat line,
// in clock ticks (USER_HZ, 100 on Linux).
func statCPU(stat string) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces and parentheses:
	// count fields after the last ")".
	i := strings.LastIndex(stat, ") ")
	if i < 0 {
		return 0, errors.New("unexpected /proc stat line")
	}
	f := strings.Fields(stat[i+2:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat line")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat line")
	}
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// waitReady waits until addr accepts connections.
func waitReady(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening after %s", addr, limit)
}

// waitStatus polls url until it answers status, every millisecond.
func waitStatus(url string, status int, limit time.Duration) error {
	client := &http.Client{Timeout: limit}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == status {
				return nil
			}
			return fmt.Errorf("%s answered %d, want %d", url, resp.StatusCode, status)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s: no answer within %s", url, limit)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d >= 10*time.Microsecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	default:
		return fmt.Sprintf("%.2fµs", float64(d)/1e3)
	}
}
