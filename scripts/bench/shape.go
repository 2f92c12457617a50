package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/build"
	"github.com/wasmroute/wasmroute/internal/hostprobe"
)

// The shape section measures what one module per app, the engine and
// clones are for (issue 10's targets), for this build and, with -before
// REV, for the build of that git revision, from the same run.

// shapeBuild is one build of the app to measure: this tree's, or an older
// revision's.
type shapeBuild struct {
	name string // "this build", or the revision
	cli  string // the wasmroute binary
	app  string // the app directory, built by cli
}

// prepareBefore checks out rev in a worktree under work, builds its CLI and
// the app with it.
func prepareBefore(rev, app, work string) (*shapeBuild, error) {
	tree := filepath.Join(work, "before")
	if out, err := exec.Command("git", "worktree", "add", "--detach", tree, rev).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git worktree add %s: %v\n%s", rev, err, out)
	}
	cli := filepath.Join(work, "wasmroute-before")
	cmd := exec.Command("go", "build", "-o", cli, "./cmd/wasmroute")
	cmd.Dir = tree
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the CLI at %s: %v\n%s", rev, err, out)
	}
	oldApp := filepath.Join(tree, app)
	if out, err := exec.Command(cli, "build", oldApp).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s at %s: %v\n%s", app, rev, err, out)
	}
	return &shapeBuild{name: rev, cli: cli, app: oldApp}, nil
}

// removeWorktree removes the worktree prepareBefore made.
func removeWorktree(work string) {
	_ = exec.Command("git", "worktree", "remove", "--force", filepath.Join(work, "before")).Run()
}

// measureShape prints, for each build: the bundle on disk, the compiled
// code, every route answering from an empty cache, process start to the
// first 200 with a warm cache, and resident memory idle and after a short
// load on every route.
func measureShape(builds []*shapeBuild, work string) error {
	fmt.Printf("\nShape (one app, examples/api; -before REV measures that revision's build too):\n")
	fmt.Printf("%-36s", "")
	for _, b := range builds {
		fmt.Printf(" %22s", b.name)
	}
	fmt.Println()
	type row struct {
		name string
		vals []string
	}
	rows := []row{{"bundle on disk (current version)", nil}, {"compiled code in the cache", nil},
		{"every GET route answers, empty cache", nil}, {"start -> first 200, warm cache", nil},
		{"RSS idle after start", nil}, {"RSS after load on every route", nil}}
	for _, b := range builds {
		m, err := bundle.Load(filepath.Join(b.app, bundle.DirName))
		var size int64
		if err == nil {
			size = bundleSize(m)
		} else {
			size, err = legacyBundleSize(filepath.Join(b.app, bundle.DirName))
			if err != nil {
				return err
			}
		}
		rows[0].vals = append(rows[0].vals, fmt.Sprintf("%.1f MB", float64(size)/1e6))
		cache := filepath.Join(work, "cache-"+strings.ReplaceAll(b.name, " ", "-"))
		os.RemoveAll(cache)
		cold, rssIdle, rssLoad, err := coldStart(b, cache)
		if err != nil {
			return err
		}
		code, err := dirSize(cache)
		if err != nil {
			return err
		}
		rows[1].vals = append(rows[1].vals, fmt.Sprintf("%.0f MB", float64(code)/1e6))
		rows[2].vals = append(rows[2].vals, fmtDur(cold))
		warm, err := warmStart(b, cache)
		if err != nil {
			return err
		}
		rows[3].vals = append(rows[3].vals, fmtDur(warm))
		rows[4].vals = append(rows[4].vals, fmt.Sprintf("%d MiB", rssIdle>>20))
		rows[5].vals = append(rows[5].vals, fmt.Sprintf("%d MiB", rssLoad>>20))
	}
	for _, r := range rows {
		fmt.Printf("%-36s", r.name)
		for _, v := range r.vals {
			fmt.Printf(" %22s", v)
		}
		fmt.Println()
	}
	return nil
}

// bundleSize is the size of the modules a manifest names.
func bundleSize(m *bundle.Manifest) int64 {
	var n int64
	for _, mod := range m.Modules {
		n += mod.Size
	}
	return n
}

// legacyBundleSize reads a bundle of an older format (one module per
// route): the sizes its current manifest lists.
func legacyBundleSize(dir string) (int64, error) {
	cur, err := os.ReadFile(filepath.Join(dir, bundle.CurrentName))
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile(filepath.Join(dir, bundle.VersionsDir, strings.TrimSpace(string(cur))+".json"))
	if err != nil {
		return 0, err
	}
	var n int64
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if sum, ok := strings.CutPrefix(line, `"sha256": "`); ok {
			sum = strings.TrimSuffix(strings.TrimSuffix(sum, ","), `"`)
			if seen[sum] {
				continue
			}
			seen[sum] = true
			if info, err := os.Stat(filepath.Join(dir, bundle.ModulePath(sum))); err == nil {
				n += info.Size()
			}
		}
	}
	return n, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// getPaths are requests to every GET route of the app, with sample path
// values.
func getPaths(app string) ([]string, error) {
	routes, err := build.Discover(app)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, r := range routes {
		if _, ok := r.Methods["GET"]; !ok || r.Middleware {
			continue
		}
		p := r.Pattern
		for _, rep := range [][2]string{{"[[...slug]]", "a/b"}, {"[...path]", "a/b"}, {"[id]", "42"}} {
			p = strings.ReplaceAll(p, rep[0], rep[1])
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// coldStart starts b's server with an empty compilation cache in cache and
// times process start until every GET route has answered (any status but
// 503). It then reads the server's RSS, loads every route for a moment,
// and reads it again.
func coldStart(b *shapeBuild, cache string) (time.Duration, uint64, uint64, error) {
	paths, err := getPaths(b.app)
	if err != nil {
		return 0, 0, 0, err
	}
	addr := freeAddr()
	start := time.Now()
	cmd, err := startServer(b.cli, "start", b.app, "--addr", addr, "--cache-dir", cache, "--log-level", "error", "--kv-memory")
	if err != nil {
		return 0, 0, 0, err
	}
	defer stop(cmd)
	client := &http.Client{Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 3*time.Minute {
				resp, err := client.Get("http://" + addr + p)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable {
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	cold := time.Since(start)
	idle, err := processRSS(cmd.Process.Pid)
	if err != nil {
		return cold, 0, 0, nil
	}
	// A short load: 16 clients for 1 s on each route.
	for _, p := range paths {
		deadline := time.Now().Add(time.Second)
		var lwg sync.WaitGroup
		for range 16 {
			lwg.Add(1)
			go func() {
				defer lwg.Done()
				for time.Now().Before(deadline) {
					resp, err := client.Get("http://" + addr + p)
					if err != nil {
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		lwg.Wait()
	}
	loaded, _ := processRSS(cmd.Process.Pid)
	return cold, idle, loaded, nil
}

// warmStart is the median of five process starts to the first 200 from GET
// /api/users/42, with the cache coldStart filled.
func warmStart(b *shapeBuild, cache string) (time.Duration, error) {
	var times []time.Duration
	for range 5 {
		addr := freeAddr()
		start := time.Now()
		cmd, err := startServer(b.cli, "start", b.app, "--addr", addr, "--cache-dir", cache, "--log-level", "error", "--kv-memory")
		if err != nil {
			return 0, err
		}
		err = waitStatus("http://"+addr+"/api/users/42", 200, time.Minute)
		times = append(times, time.Since(start))
		stop(cmd)
		if err != nil {
			return 0, err
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[2], nil
}

// measureManyApps runs itself as a child that loads the app's bundle n
// times into one engine, each with its own env, sends one request to each,
// and prints its RSS and the time the last load took.
func measureManyApps(bundleDir, cache string, n int) error {
	out, err := exec.Command(os.Args[0], "-many-apps", bundleDir, cache, fmt.Sprint(n)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("many apps: %v\n%s", err, out)
	}
	fmt.Print(string(out))
	return nil
}

// manyAppsChild is the child of measureManyApps.
func manyAppsChild(bundleDir, cache string, n int) error {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := host.NewEngine(host.EngineOptions{CacheDir: cache, Logger: logger})
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	rssBefore, shmemBefore := selfRSS(), systemShmem()
	var last time.Duration
	var lastHost *host.Host
	for i := range n {
		start := time.Now()
		h, err := e.Load(bundleDir, host.Options{Logger: logger, AppName: fmt.Sprintf("app%d", i),
			Env:          map[string]string{"APP_NAME": fmt.Sprintf("app %d", i)},
			LookupSecret: func(string) (string, bool) { return "bench", true }})
		if err != nil {
			return err
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/hello", nil))
		if w.Code != 200 {
			return fmt.Errorf("app %d: GET /api/hello answered %d", i, w.Code)
		}
		last = time.Since(start)
		lastHost = h
	}
	runtime.GC()
	rss := selfRSS()
	debug.FreeOSMemory()
	fmt.Printf("%d apps in one engine (examples/api, each its own env), one request each: RSS %d MiB, %d MiB once the Go heap\n"+
		"  has returned what it holds free (debug.FreeOSMemory); %d MiB before the first\n",
		n, rss>>20, selfRSS()>>20, rssBefore>>20)
	fmt.Printf("  loading the last one and its first answer took %s\n", fmtDur(last))
	if times, faults, err := hostprobe.InstanceTimes(lastHost, 100, false); err == nil {
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		fmt.Printf("  a new clone in the last app (its snapshot stored over the first app's): %s median, %s p99, %.0f page faults\n",
			fmtDur(times[50]), fmtDur(times[98]), faults)
	}
	if b, err := os.ReadFile("/proc/self/smaps_rollup"); err == nil {
		var parts []string
		for _, line := range strings.Split(string(b), "\n") {
			for _, key := range []string{"Anonymous:", "Pss_Shmem:", "Rss:", "Pss:"} {
				if strings.HasPrefix(line, key) {
					parts = append(parts, strings.Join(strings.Fields(line), " "))
				}
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("  %s; Go heap in use %d MiB; snapshot images (the machine's Shmem grew) %d MiB\n",
			strings.Join(parts, ", "), ms.HeapInuse>>20, (systemShmem()-shmemBefore)>>20)
	}
	return nil
}

// systemShmem is the machine's shared memory (/proc/meminfo), where memfd
// pages live whether mapped or not.
func systemShmem() uint64 {
	n, _ := procFileKB("/proc/meminfo", "Shmem:")
	return n
}

func selfRSS() uint64 {
	n, _ := processRSS(os.Getpid())
	return n
}

// measureIsolation compares GET /api/hello pooled and with isolation =
// "request" (every request on a new clone), in process, 8 clients for 3 s
// each, and prints the clone's start time and page faults.
func measureIsolation(bundleDir, work, cache string) error {
	isolated := filepath.Join(work, "isolated")
	if err := os.CopyFS(isolated, os.DirFS(bundleDir)); err != nil {
		return err
	}
	m, err := bundle.Load(isolated)
	if err != nil {
		return err
	}
	m.App.Isolation = bundle.IsolationRequest
	if _, err := bundle.Write(isolated, m); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var rps [2]float64
	for i, dir := range []string{bundleDir, isolated} {
		h, err := host.New(dir, host.Options{CacheDir: cache, Logger: logger,
			LookupSecret: func(string) (string, bool) { return "bench", true }})
		if err != nil {
			return err
		}
		if err := h.Warm(context.Background()); err != nil {
			return err
		}
		if i == 0 {
			for _, fresh := range []bool{true, false} {
				times, faults, err := hostprobe.InstanceTimes(h, 200, fresh)
				if err != nil {
					return err
				}
				sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
				what := "new instance, clone of the snapshot:"
				if fresh {
					what = "new instance, fresh (+ _initialize):"
				}
				fmt.Printf("%-38s %8s median, %8s p99, %4.0f page faults (%.0f KiB) each (200 of the app module)\n",
					what, fmtDur(times[100]), fmtDur(times[197]), faults, faults*4)
			}
		}
		var count atomic.Int64
		deadline := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", "/api/hello", nil))
					if w.Code == 200 {
						count.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		rps[i] = float64(count.Load()) / 3
		h.Close(context.Background())
	}
	fmt.Printf("GET /api/hello in process, 8 clients: pooled %.0f req/s, isolation = \"request\" %.0f req/s (%.2fx)\n",
		rps[0], rps[1], rps[1]/rps[0])
	return nil
}
