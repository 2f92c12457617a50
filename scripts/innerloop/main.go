// Command innerloop measures wasmroute's inner loop on a copy of an app:
// `wasmroute dev` from start to the first 200, then from saving a route
// file, and a lib file, to the new code answering, and a restart of dev
// with nothing changed. Run it from the repository root:
//
//	go run ./scripts/innerloop
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	rounds := flag.Int("n", 3, "edits of each kind")
	flag.Parse()
	if err := run(*rounds); err != nil {
		fmt.Fprintln(os.Stderr, "innerloop:", err)
		os.Exit(1)
	}
}

func run(rounds int) error {
	work, err := os.MkdirTemp("", "wasmroute-innerloop-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	repo, _ := os.Getwd()
	cli := filepath.Join(work, "wasmroute")
	if out, err := exec.Command("go", "build", "-o", cli, "./cmd/wasmroute").CombinedOutput(); err != nil {
		return fmt.Errorf("building the CLI: %v\n%s", err, out)
	}
	app := filepath.Join(work, "app")
	if out, err := exec.Command(cli, "init", app, "--replace", repo).CombinedOutput(); err != nil {
		return fmt.Errorf("init: %v\n%s", err, out)
	}
	// A lib package the [id] route uses.
	lib := filepath.Join(app, "lib", "names", "names.go")
	route := filepath.Join(app, "app", "api", "users", "[id]", "route.go")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(lib, []byte("package names\n\n// Of names a user.\nfunc Of(id string) string { return \"User \" + id }\n"), 0o644); err != nil {
		return err
	}
	src, _ := os.ReadFile(route)
	src = []byte(strings.Replace(strings.Replace(string(src), `"User " + r.PathValue("id")`, `names.Of(r.PathValue("id"))`, 1),
		"\"github.com/wasmroute/wasmroute/guest\"", "\"github.com/wasmroute/wasmroute/guest\"\n\t\"app/lib/names\"", 1))
	if err := os.WriteFile(route, src, 0o644); err != nil {
		return err
	}
	fmt.Printf("wasmroute inner loop — %s, on the app `wasmroute init` writes, %d edits of each kind\n\n", time.Now().UTC().Format("2006-01-02"), rounds)

	dev, url, err := startDev(cli, app)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := poll(url+"/api/users/1", "User 1", 5*time.Minute); err != nil {
		stopDev(dev)
		return err
	}
	fmt.Printf("%-44s %s (empty app cache: the first build)\n", "dev start -> first 200", fmtDur(dev.since(start)))

	var routeTimes, libTimes []time.Duration
	for i := range rounds {
		waitIdle(dev)
		marker := fmt.Sprintf("route edit %d", i)
		edited := strings.Replace(string(src), `names.Of(r.PathValue("id"))`, fmt.Sprintf(`names.Of(r.PathValue("id")) + %q`, " "+marker), 1)
		t0 := time.Now()
		if os.Getenv("INNERLOOP_VERBOSE") != "" {
			fmt.Println("  save:", t0.Format("15:04:05.000"))
		}
		if err := os.WriteFile(route, []byte(edited), 0o644); err != nil {
			return err
		}
		if err := poll(url+"/api/users/1", marker, time.Minute); err != nil {
			stopDev(dev)
			return err
		}
		routeTimes = append(routeTimes, time.Since(t0))
	}
	if err := os.WriteFile(route, src, 0o644); err != nil {
		return err
	}
	if err := poll(url+"/api/users/1", "User 1", time.Minute); err != nil {
		stopDev(dev)
		return err
	}
	for i := range rounds {
		waitIdle(dev)
		marker := fmt.Sprintf("lib edit %d", i)
		t0 := time.Now()
		content := fmt.Sprintf("package names\n\n// Of names a user.\nfunc Of(id string) string { return %q + id }\n", marker+" ")
		if err := os.WriteFile(lib, []byte(content), 0o644); err != nil {
			return err
		}
		if err := poll(url+"/api/users/1", marker, time.Minute); err != nil {
			stopDev(dev)
			return err
		}
		libTimes = append(libTimes, time.Since(t0))
	}
	stopDev(dev)
	fmt.Printf("%-44s %s median (%s)\n", "save a route file -> new code answering", fmtDur(median(routeTimes)), list(routeTimes))
	fmt.Printf("%-44s %s median (%s)\n", "save a lib file -> new code answering", fmtDur(median(libTimes)), list(libTimes))

	// A restart with nothing changed.
	var restarts []time.Duration
	for range rounds {
		t0 := time.Now()
		dev, url, err := startDev(cli, app)
		if err != nil {
			return err
		}
		err = poll(url+"/api/users/1", "lib edit", time.Minute)
		restarts = append(restarts, time.Since(t0))
		stopDev(dev)
		if err != nil {
			return err
		}
	}
	fmt.Printf("%-44s %s median (%s)\n", "dev restart, no change -> first 200", fmtDur(median(restarts)), list(restarts))
	return nil
}

type devProc struct {
	cmd   *exec.Cmd
	begun time.Time
}

func (d *devProc) since(time.Time) time.Duration { return time.Since(d.begun) }

// startDev starts `wasmroute dev` on a free port and returns its URL.
func startDev(cli, app string) (*devProc, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(cli, "dev", app, "--addr", addr, "--log-level", logLevel(), "--kv-memory")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	d := &devProc{cmd: cmd, begun: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if os.Getenv("INNERLOOP_VERBOSE") != "" {
				fmt.Println("  dev:", time.Now().Format("15:04:05.000"), sc.Text())
			}
		}
	}()
	return d, "http://" + addr, nil
}

// waitIdle waits until dev has used under 20 ms of CPU in 250 ms: the
// compiler it runs in the background after a change is done, as it would
// be by the time a person saves again.
func waitIdle(d *devProc) {
	stat := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		var u, s int64
		fmt.Sscan(f[11], &u)
		fmt.Sscan(f[12], &s)
		return u + s // clock ticks, 10 ms each
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		before := stat()
		time.Sleep(250 * time.Millisecond)
		if stat()-before < 2 {
			return
		}
	}
}

func stopDev(d *devProc) {
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
}

// poll asks url every 10 ms until its body holds want.
func poll(url, want string, limit time.Duration) error {
	client := &http.Client{Timeout: limit}
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New(url + " never answered " + want + "; last: " + last)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func list(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmtDur(d))
	}
	return strings.Join(parts, ", ")
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// logLevel is dev's: INNERLOOP_LOG=debug shows what the host does.
func logLevel() string {
	if l := os.Getenv("INNERLOOP_LOG"); l != "" {
		return l
	}
	return "error"
}
