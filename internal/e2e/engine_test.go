package e2e

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
)

// apps serves several apps of one engine over real HTTP, routed by the
// Host header, as an edge host does.
type apps struct {
	*httptest.Server
	engine *host.Engine
	logs   *logBuffer
	mu     sync.Mutex
	byName map[string]*host.Host
}

func newApps(t *testing.T, opts host.EngineOptions) *apps {
	t.Helper()
	a := &apps{logs: &logBuffer{}, byName: map[string]*host.Host{}}
	opts.Logger = slog.New(slog.NewTextHandler(a.logs, nil))
	opts.CacheDir = cacheDir
	e, err := host.NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.engine = e
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		h := a.byName[strings.Split(r.Host, ".")[0]]
		a.mu.Unlock()
		if h == nil {
			http.Error(w, `{"error":"Unknown host"}`, http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		a.Server.Close()
		e.Close(context.Background())
		if t.Failed() {
			t.Logf("engine log:\n%s", a.logs)
		}
	})
	return a
}

// load loads the bundle in bundleDir as the app name.
func (a *apps) load(t *testing.T, name, bundleDir string, opts host.Options) *host.Host {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(a.logs, nil))
	opts.AppName = name
	opts.LookupSecret = testSecrets
	h, err := a.engine.Load(bundleDir, opts)
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	a.mu.Lock()
	a.byName[name] = h
	a.mu.Unlock()
	return h
}

// get sends GET path to the app name and returns the status and body.
func (a *apps) get(t *testing.T, name, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+path, nil)
	req.Host = name + ".example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestManyAppsInOneEngine loads the faulty app twice, each with its own
// env, and the plain app into one engine. Each app sees only its own
// environment; the two copies of one bundle share one compiled module;
// one app unloaded, or whose module traps while it initialises, leaves the
// others serving.
func TestManyAppsInOneEngine(t *testing.T) {
	a := newApps(t, host.EngineOptions{})
	faultyBundle := filepath.Join(faultyDir, bundle.DirName)
	one := a.load(t, "one", faultyBundle, host.Options{Env: map[string]string{"FOO": "one"}})
	two := a.load(t, "two", faultyBundle, host.Options{Env: map[string]string{"FOO": "two"}})
	a.load(t, "plain", filepath.Join(plainDir, bundle.DirName), host.Options{})
	for _, name := range []string{"one", "two"} {
		status, body := a.get(t, name, "/api/env")
		if status != 200 || !strings.Contains(body, "FOO="+name) {
			t.Fatalf("%s's env: %d %q", name, status, body)
		}
	}
	if status, body := a.get(t, "plain", "/api/ok"); status != 200 {
		t.Fatalf("plain: %d %q", status, body)
	}
	if status, _ := a.get(t, "nope", "/api/ok"); status != 404 {
		t.Fatalf("unknown host: %d", status)
	}
	if s1, s2 := one.Stats()[0], two.Stats()[0]; s1.Module != s2.Module || s1.Calls != 1 || s2.Calls != 1 {
		t.Fatalf("the two copies: %+v and %+v", s1, s2)
	}

	// Unloading one app leaves the other copy of its bundle serving.
	if err := one.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, body := a.get(t, "two", "/api/env"); status != 200 || !strings.Contains(body, "FOO=two") {
		t.Fatalf("after the other copy left: %d %q", status, body)
	}

	// A module that traps in _initialize fails its app, and only its app.
	broken := copyBundle(t)
	m, _ := bundle.Load(broken)
	replaceModule(t, broken, m.Modules[0].SHA256, trapInInit())
	b := a.load(t, "broken", broken, host.Options{})
	if err := b.Warm(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Warm of an app whose guest traps in _initialize: %v", err)
	}
	if status, _ := a.get(t, "broken", "/api/ok"); status != 500 {
		t.Fatalf("the broken app answered %d", status)
	}
	for _, name := range []string{"two", "plain"} {
		if status, _ := a.get(t, name, "/api/ok"); status != 200 {
			t.Fatalf("%s stopped serving beside the broken app: %d", name, status)
		}
	}
}

// TestAppMemoryBudget gives an engine a 400 MiB budget and lets
// one app hold 100 MiB requests until the budget is spent: that app gets
// 503, and another app keeps serving from what it holds.
func TestAppMemoryBudget(t *testing.T) {
	a := newApps(t, host.EngineOptions{MemoryBudget: 400 << 20})
	a.load(t, "hog", filepath.Join(faultyDir, bundle.DirName), host.Options{MaxInstances: 8})
	a.load(t, "plain", filepath.Join(plainDir, bundle.DirName), host.Options{})
	if status, _ := a.get(t, "plain", "/api/ok"); status != 200 {
		t.Fatal("plain app not serving")
	}
	var writers []*io.PipeWriter
	refused := 0
	for range 8 {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req, _ := http.NewRequest("POST", a.URL+"/api/hostile?case=alloc&mb=100", pr)
		req.Host = "hog.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 503 {
			refused++
		}
		if resp.StatusCode == 503 || resp.StatusCode == 200 {
			defer resp.Body.Close()
		}
	}
	if refused == 0 {
		t.Fatal("the hog app was never refused memory")
	}
	if status, body := a.get(t, "plain", "/api/ok"); status != 200 {
		t.Fatalf("the other app while the budget is spent: %d %q", status, body)
	}
	for _, w := range writers {
		w.Close()
	}
}

// trapInInit is a module with every export a guest needs, whose
// _initialize traps (unreachable).
func trapInInit() []byte {
	uleb := func(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(uleb(append(out, id), len(body)), body...)
	}
	str := func(b []byte, s string) []byte { return append(uleb(b, len(s)), s...) }
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = section(out, 1, []byte{2, 0x60, 0, 0, 0x60, 3, 0x7f, 0x7f, 0x7f, 1, 0x7f}) // () -> (); (i32, i32, i32) -> i32
	out = section(out, 3, []byte{3, 0, 0, 1})
	out = section(out, 5, []byte{1, 0x00, 1})
	exps := uleb(nil, 4)
	exps = append(str(exps, "memory"), 0x02, 0)
	exps = append(str(exps, abi.ExportInitialize), 0x00, 0)
	exps = append(str(exps, abi.VersionExport(abi.Version)), 0x00, 1)
	exps = append(str(exps, abi.ExportHandle), 0x00, 2)
	out = section(out, 7, exps)
	code := uleb(nil, 3)
	code = append(code, 3, 0, 0x00, 0x0b)       // unreachable
	code = append(code, 2, 0, 0x0b)             // nothing
	code = append(code, 4, 0, 0x41, 0x00, 0x0b) // i32.const 0
	return section(out, 10, code)
}
