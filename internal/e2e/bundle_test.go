package e2e

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/build"
)

// copyBundle copies the faulty app's bundle to a temporary directory so a
// test can damage it.
func copyBundle(t *testing.T) string {
	t.Helper()
	src := filepath.Join(faultyDir, bundle.DirName)
	dst := t.TempDir()
	m, err := bundle.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range m.Modules {
		b, err := bundle.ReadModule(src, mod)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := bundle.AddModule(dst, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bundle.Write(dst, m); err != nil {
		t.Fatal(err)
	}
	return dst
}

// editManifest applies fn to the bundle's manifest.
func editManifest(t *testing.T, dir string, fn func(m *bundle.Manifest)) {
	t.Helper()
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	fn(m)
	if _, err := bundle.Write(dir, m); err != nil {
		t.Fatal(err)
	}
}

// moduleOf returns the module serving the route with pattern.
func moduleOf(m *bundle.Manifest, pattern string) *bundle.Module {
	for _, r := range m.Routes {
		if r.Pattern == pattern {
			return &m.Modules[r.Module]
		}
	}
	return nil
}

// TestDamagedBundle checks that a broken module costs only the routes it
// serves: a clear error naming the module in the log and from Warm, a 500
// for their requests, and the routes of the app's other module serving.
// The faulty app has two: the network routes' and everything else's.
func TestDamagedBundle(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string, mod *bundle.Module)
		wantErr string
	}{
		{"corrupt module", func(t *testing.T, dir string, mod *bundle.Module) {
			path := filepath.Join(dir, mod.File)
			b, _ := os.ReadFile(path)
			b[len(b)/2] ^= 0xff
			os.WriteFile(path, b, 0o644)
		}, "is corrupt: sha256"},
		{"missing module", func(t *testing.T, dir string, mod *bundle.Module) {
			os.Remove(filepath.Join(dir, mod.File))
		}, "no such file"},
		{"wrong ABI version", func(t *testing.T, dir string, mod *bundle.Module) {
			replaceModule(t, dir, mod.SHA256, wasmModule("wasmroute_abi_v99", "_initialize", "wasmroute_handle"))
		}, "module speaks wasmroute ABI v99; this host speaks v3"},
		{"not a wasmroute module", func(t *testing.T, dir string, mod *bundle.Module) {
			replaceModule(t, dir, mod.SHA256, wasmModule("_start"))
		}, "not a wasmroute guest"},
		{"not WebAssembly", func(t *testing.T, dir string, mod *bundle.Module) {
			replaceModule(t, dir, mod.SHA256, []byte("#!/bin/sh\necho hi\n"))
		}, "invalid magic number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBundle(t)
			m, _ := bundle.Load(dir)
			damaged := moduleOf(m, "/api/fetch")
			if damaged == moduleOf(m, "/api/ok") {
				t.Fatal("the faulty app's network routes share the other routes' module")
			}
			tt.damage(t, dir, damaged)
			s := serveBundle(t, dir, host.Options{})
			err := s.host.Warm(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "modules/") {
				t.Fatalf("Warm error = %v, want one naming the module with %q", err, tt.wantErr)
			}
			resp, body := s.do(t, "GET", "/api/fetch", "")
			if resp.StatusCode != 500 || body != internalError {
				t.Fatalf("route of the damaged module: %d %s", resp.StatusCode, body)
			}
			if logs := s.logs.String(); !strings.Contains(logs, tt.wantErr) {
				t.Fatalf("log lacks %q:\n%s", tt.wantErr, logs)
			}
			if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
				t.Fatalf("route of the healthy module answered %d", resp.StatusCode)
			}
		})
	}
}

// replaceModule makes bin the module the manifest names where it named
// the module with sha.
func replaceModule(t *testing.T, dir, sha string, bin []byte) {
	t.Helper()
	editManifest(t, dir, func(m *bundle.Manifest) {
		for i := range m.Modules {
			if m.Modules[i].SHA256 != sha {
				continue
			}
			file, sum, err := bundle.AddModule(dir, bin)
			if err != nil {
				t.Fatal(err)
			}
			m.Modules[i] = bundle.Module{File: file, SHA256: sum, Size: int64(len(bin)), Network: m.Modules[i].Network}
		}
	})
}

func TestBundleRefusedAtLoad(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(m *bundle.Manifest)
		wantErr string
	}{
		{"manifest of another ABI", func(m *bundle.Manifest) { m.ABI = 99 }, "built for ABI version 99"},
		{"no routes", func(m *bundle.Manifest) { m.Routes = nil }, "has no routes"},
		{"conflicting routes", func(m *bundle.Manifest) { m.Routes[1].Pattern = m.Routes[0].Pattern }, "conflict"},
		{"module outside the bundle", func(m *bundle.Manifest) { m.Modules[0].File = "../../etc/passwd" }, "invalid module path"},
		{"route without a module", func(m *bundle.Manifest) { m.Routes[0].Module = len(m.Modules) }, "no module"},
		{"unknown method", func(m *bundle.Manifest) { m.Routes[0].Methods = []string{"BREW"} }, `unknown method "BREW"`},
		{"secret not set", func(m *bundle.Manifest) { m.App.Secrets = []string{"NOT_SET_ANYWHERE"} }, "secrets NOT_SET_ANYWHERE are declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyBundle(t)
			editManifest(t, dir, tt.edit)
			_, err := host.New(dir, host.Options{CacheDir: cacheDir, LookupSecret: testSecrets})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("host.New error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := host.New(t.TempDir(), host.Options{}); err == nil || !strings.Contains(err.Error(), "run `wasmroute build` first") {
		t.Fatalf("empty dir: %v", err)
	}
}

// wasmModule returns a minimal WebAssembly module exporting empty functions
// of type () -> () under the given names.
func wasmModule(exports ...string) []byte {
	uleb := func(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) }
	section := func(out []byte, id byte, body []byte) []byte {
		return append(uleb(append(out, id), len(body)), body...)
	}
	n := len(exports)
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = section(out, 1, []byte{1, 0x60, 0, 0}) // one type: () -> ()
	funcs := uleb(nil, n)
	for i := 0; i < n; i++ {
		funcs = append(funcs, 0)
	}
	out = section(out, 3, funcs)
	exps := uleb(nil, n)
	for i, name := range exports {
		exps = append(uleb(exps, len(name)), name...)
		exps = uleb(append(exps, 0), i)
	}
	out = section(out, 7, exps)
	code := uleb(nil, n)
	for i := 0; i < n; i++ {
		code = append(code, 2, 0, 0x0b) // size 2: no locals, end
	}
	return section(out, 10, code)
}

// TestBuildInAnotherModule checks that an app in its own Go module, which
// requires github.com/wasmroute/wasmroute, builds and serves, and that a
// compile error names the user's file and line and leaves the last good
// bundle in place.
func TestBuildInAnotherModule(t *testing.T) {
	dir := newApp(t, "example.com/other", map[string]string{
		"app/api/items/[id]/route.go": `package route

import (
	"net/http"

	"example.com/other/lib/greet"
	"github.com/wasmroute/wasmroute/guest"
)

func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"item": greet.Item(r.PathValue("id"))})
}
`,
		"lib/greet/greet.go": "package greet\n\nfunc Item(id string) string { return \"item-\" + id }\n",
	})
	if _, err := build.Build(context.Background(), dir, build.Options{}); err != nil {
		t.Fatal(err)
	}
	s := serve(t, dir, host.Options{})
	if resp, body := s.do(t, "GET", "/api/items/7", ""); resp.StatusCode != 200 || body != `{"item":"item-7"}` {
		t.Fatalf("GET /api/items/7 = %d %s", resp.StatusCode, body)
	}

	write(t, filepath.Join(dir, "app/api/broken/route.go"), "package route\n\nimport \"net/http\"\n\nfunc GET(w http.ResponseWriter, r *http.Request) {\n\tundefinedCall()\n}\n")
	write(t, filepath.Join(dir, "app/api/also/[x]/route.go"), "package route\n\nimport \"net/http\"\n\nfunc GET(w http.ResponseWriter, r *http.Request) {\n\talsoUndefined()\n}\n")
	_, err := build.Build(context.Background(), dir, build.Options{})
	if err == nil {
		t.Fatal("build of a broken route succeeded")
	}
	// Every broken route is named, not the first.
	for _, want := range []string{"app/api/broken/route.go:6:2: undefined: undefinedCall", "app/api/also/[x]/route.go:6:2: undefined: alsoUndefined"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("build error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "wasmroute_gen") {
		t.Fatalf("build error names generated paths:\n%v", err)
	}
	bundleDir := filepath.Join(dir, bundle.DirName)
	m, err := bundle.Load(bundleDir)
	if err != nil || len(m.Routes) != 1 {
		t.Fatalf("last good bundle not kept: %v %v", m, err)
	}
	// A good build writes a new version beside the old one and switches
	// to it; the host serves it on reload, and the old one stays on disk.
	os.RemoveAll(filepath.Join(dir, "app/api/broken"))
	os.RemoveAll(filepath.Join(dir, "app/api/also"))
	write(t, filepath.Join(dir, "lib/greet/greet.go"), "package greet\n\nfunc Item(id string) string { return \"item v2-\" + id }\n")
	if _, err := build.Build(context.Background(), dir, build.Options{}); err != nil {
		t.Fatal(err)
	}
	next, err := bundle.Load(bundleDir)
	if err != nil || next.Version == m.Version || next.Modules[0].SHA256 == m.Modules[0].SHA256 {
		t.Fatalf("after a change: version %v (was %s), %v", next, m.Version, err)
	}
	if old, err := bundle.LoadVersion(bundleDir, m.Version); err != nil || bundle.Sum(mustRead(t, filepath.Join(bundleDir, old.Modules[0].File))) != m.Modules[0].SHA256 {
		t.Fatalf("the previous version is gone: %v", err)
	}
	if err := s.host.Reload(); err != nil {
		t.Fatal(err)
	}
	if resp, body := s.do(t, "GET", "/api/items/7", ""); resp.StatusCode != 200 || body != `{"item":"item v2-7"}` {
		t.Fatalf("after reload: %d %s", resp.StatusCode, body)
	}
	for _, name := range []string{"gen", "overlay.json", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(bundleDir, name)); err == nil {
			t.Errorf("%s is in the bundle; generated sources live outside it", name)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newApp writes an app in its own Go module, named module, that requires
// this checkout of github.com/wasmroute/wasmroute, and returns its directory.
func newApp(t *testing.T, module string, files map[string]string) string {
	t.Helper()
	repoRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module "+module+"\n\ngo 1.26\n\nrequire github.com/wasmroute/wasmroute v0.0.0\n\nreplace github.com/wasmroute/wasmroute => "+repoRoot+"\n")
	for name, content := range files {
		write(t, filepath.Join(dir, name), content)
	}
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRouteRecovers checks that a failure to load a module is not final:
// with the module file gone its routes answer 500 and the host logs when it
// will try again; once the file is back, the host's own retries start an
// instance, without any request, and the routes serve.
func TestRouteRecovers(t *testing.T) {
	dir := copyBundle(t)
	m, _ := bundle.Load(dir)
	path := filepath.Join(dir, moduleOf(m, "/api/ok").File)
	module, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	s := serveBundle(t, dir, host.Options{})
	if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 500 || body != internalError {
		t.Fatalf("route without its module: %d %s", resp.StatusCode, body)
	}
	if logs := s.logs.String(); !strings.Contains(logs, `msg="module cannot serve"`) || !strings.Contains(logs, "retry_in=") {
		t.Fatalf("no log line with the retry:\n%s", logs)
	}
	if err := os.WriteFile(path, module, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return stats(s, "/api/ok").Idle == 1 })
	if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok ") {
		t.Fatalf("route after its module came back: %d %q", resp.StatusCode, body)
	}
}
