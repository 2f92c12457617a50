package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/appconfig"
)

// genDir is the virtual folder, inside the app directory, where the build
// maps each route's files and generated main package. It never exists on
// disk: `go build -overlay` supplies its contents.
const genDir = "wasmroute_gen"

// Options configure a build.
type Options struct {
	// Only, if not nil, limits compilation to the routes with these IDs; the
	// others keep the module of the previous build. Used by `wasmroute dev`.
	Only map[string]bool
	// Jobs is the number of routes compiled at once. Defaults to GOMAXPROCS.
	Jobs int
	// OutDir is where the bundle goes. Defaults to DIR/.wasmroute.
	OutDir string
	// NoLoopCheck leaves out the countdown that lets the host stop a guest
	// at its time limit. Only scripts/bench uses it, to measure what the
	// countdown costs; such a module can loop forever.
	NoLoopCheck bool
}

// Result describes a finished build.
type Result struct {
	Routes   []*Route
	Manifest *bundle.Manifest
	Compiled []string // IDs of the routes compiled this time
	Duration time.Duration
}

// Error is a failed build: the compiler's output, with paths pointing at
// the user's files.
type Error struct {
	Route  string // route source, such as app/api/hello/route.go
	Output string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: build failed:\n%s", e.Route, e.Output) }

// Build discovers the app in dir, compiles its routes to WebAssembly and writes
// the bundle to dir/.wasmroute. The manifest is written only when every route
// compiled, so a failed build leaves the previous bundle usable.
func Build(ctx context.Context, dir string, opts Options) (*Result, error) {
	start := time.Now()
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	routes, err := Discover(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := appconfig.Load(dir)
	if err != nil {
		return nil, err
	}
	var patterns []string
	for _, r := range routes {
		if !r.Middleware {
			patterns = append(patterns, r.Pattern)
		}
	}
	if err := cfg.CheckRoutes(patterns); err != nil {
		return nil, err
	}
	modRoot, modPath, err := findModule(dir)
	if err != nil {
		return nil, err
	}
	out := opts.OutDir
	if out == "" {
		out = filepath.Join(dir, bundle.DirName)
	}
	if err := os.MkdirAll(filepath.Join(out, bundle.ModulesDir), 0o755); err != nil {
		return nil, err
	}
	prev, _ := bundle.Load(out)
	removeLegacy(out)
	work, err := workDir(dir)
	if err != nil {
		return nil, err
	}
	overlay, err := writeOverlay(dir, work, modRoot, modPath, routes)
	if err != nil {
		return nil, err
	}

	hasMiddleware := false
	for _, r := range routes {
		hasMiddleware = hasMiddleware || r.Middleware
	}
	var todo []*Route
	modules := map[string]string{} // route ID -> module path in the bundle
	for _, r := range routes {
		if m := prevModule(prev, out, r, hasMiddleware); m != "" && opts.Only != nil && !opts.Only[r.ID] {
			modules[r.ID] = m
			continue
		}
		todo = append(todo, r)
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, len(todo))
	built := make([]string, len(todo))
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, r := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			built[i], errs[i] = compileRoute(ctx, dir, out, overlay, r, !opts.NoLoopCheck)
		}()
	}
	wg.Wait()
	if err := joinBuildErrors(errs); err != nil {
		return nil, err
	}
	for i, r := range todo {
		modules[r.ID] = built[i]
	}

	m := &bundle.Manifest{ABI: abi.Version}
	for _, r := range routes {
		module := modules[r.ID]
		bin, err := os.ReadFile(filepath.Join(out, module))
		if err != nil {
			return nil, err
		}
		if r.Middleware {
			m.Middleware = &bundle.Middleware{Source: r.Source, Module: module, SHA256: bundle.Sum(bin),
				Size: int64(len(bin)), Matcher: r.Matcher, Network: usesSockets(bin)}
			continue
		}
		m.Routes = append(m.Routes, bundle.Route{
			Pattern: r.Pattern,
			Source:  r.Source,
			Methods: r.MethodList(),
			Module:  module,
			SHA256:  bundle.Sum(bin),
			Size:    int64(len(bin)),
			Config:  r.Config,
			// Every route module links the middleware in (see mainSource).
			Middleware: hasMiddleware,
			Network:    usesSockets(bin),
		})
	}
	if err := cfg.Apply(m); err != nil {
		return nil, err
	}
	if _, err := bundle.Write(out, m); err != nil {
		return nil, err
	}
	res := &Result{Routes: routes, Manifest: m, Duration: time.Since(start)}
	for _, r := range todo {
		res.Compiled = append(res.Compiled, r.ID)
	}
	return res, nil
}

// prevModule returns the module the previous build made for r, if the
// current build can keep it: it is still on disk, and a route module has
// the middleware linked in exactly when the app has one.
func prevModule(prev *bundle.Manifest, out string, r *Route, withMiddleware bool) string {
	if prev == nil {
		return ""
	}
	exists := func(module string) string {
		if _, err := os.Stat(filepath.Join(out, module)); err != nil {
			return ""
		}
		return module
	}
	if r.Middleware {
		if prev.Middleware == nil || prev.Middleware.Source != r.Source {
			return ""
		}
		return exists(prev.Middleware.Module)
	}
	for _, pr := range prev.Routes {
		if pr.Pattern == r.Pattern && pr.Source == r.Source && pr.Middleware == withMiddleware &&
			strings.Join(pr.Methods, ",") == strings.Join(r.MethodList(), ",") {
			return exists(pr.Module)
		}
	}
	return ""
}

// compileRoute builds one route's module into the bundle in out, under its
// SHA-256, and returns its path in the bundle.
func compileRoute(ctx context.Context, dir, out, overlay string, r *Route, loopCheck bool) (string, error) {
	// A unique temporary name keeps two builds of the same app (dev running
	// while `wasmroute build` runs, or parallel tests) from colliding.
	f, err := os.CreateTemp(filepath.Join(out, bundle.ModulesDir), r.ID+"-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	// The getaddrinfo tag makes github.com/stealthrocket/net resolve names
	// through the host (sock_getaddrinfo), where the allowlist is checked;
	// Go's own resolver cannot reach DNS from WASI.
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-tags=getaddrinfo", "-overlay", overlay,
		"-ldflags=-s -w", "-o", tmp, "./"+genDir+"/"+r.ID)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		msg := cleanCompilerOutput(stderr.String(), dir)
		if msg == "" {
			msg = err.Error()
		}
		return "", &Error{Route: r.Source, Output: msg}
	}
	bin, err := os.ReadFile(tmp)
	os.Remove(tmp)
	if err != nil {
		return "", err
	}
	bin = mergeDataSegments(bin)
	if loopCheck {
		bin, err = addInterrupt(bin)
	}
	if err != nil {
		return "", &Error{Route: r.Source, Output: "adding the time-limit check to the module: " + err.Error()}
	}
	module, _, err := bundle.AddModule(out, bin)
	return module, err
}

// joinBuildErrors joins the routes' errors, reporting once an output several
// routes share (a go.mod problem fails every route the same way).
func joinBuildErrors(errs []error) error {
	var out []error
	seen := map[string]bool{}
	for _, err := range errs {
		var be *Error
		if errors.As(err, &be) {
			if seen[be.Output] {
				continue
			}
			seen[be.Output] = true
		}
		if err != nil {
			out = append(out, err)
		}
	}
	return errors.Join(out...)
}

// cleanCompilerOutput drops the "# package" lines that name generated
// packages and makes paths relative to the app directory.
func cleanCompilerOutput(s, dir string) string {
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(line, "# ") && strings.Contains(line, genDir) {
			continue
		}
		line = strings.ReplaceAll(line, dir+string(filepath.Separator), "")
		lines = append(lines, strings.TrimPrefix(line, "./"))
	}
	return strings.Join(lines, "\n")
}

// writeOverlay writes the generated main packages and the overlay file that
// maps each route folder (whose name may hold [ ] characters Go rejects in
// import paths) to a valid virtual import path.
func writeOverlay(dir, out, modRoot, modPath string, routes []*Route) (string, error) {
	gen := filepath.Join(out, "gen")
	if err := os.MkdirAll(gen, 0o755); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(modRoot, dir)
	if err != nil {
		return "", err
	}
	importBase := modPath
	if rel != "." {
		importBase += "/" + filepath.ToSlash(rel)
	}
	replace := map[string]string{}
	mwImport, mw := "", (*Route)(nil)
	for _, r := range routes {
		if r.Middleware {
			mwImport, mw = importBase+"/"+genDir+"/"+r.ID+"/route", r
		}
	}
	for _, r := range routes {
		virtual := filepath.Join(dir, genDir, r.ID)
		for _, f := range r.Files {
			// A //line directive makes stack traces, like compiler errors,
			// name the user's file rather than the virtual one.
			src, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			copyPath := filepath.Join(gen, r.ID, filepath.Base(f))
			if err := os.MkdirAll(filepath.Dir(copyPath), 0o755); err != nil {
				return "", err
			}
			lined := append([]byte("//line "+f+":1:1\n"), src...)
			if err := writeIfChanged(copyPath, lined); err != nil {
				return "", err
			}
			replace[filepath.Join(virtual, "route", filepath.Base(f))] = copyPath
		}
		mainFile := filepath.Join(gen, r.ID+".go")
		src := mainSource(importBase+"/"+genDir+"/"+r.ID+"/route", r, mwImport, mw)
		if err := writeIfChanged(mainFile, src); err != nil {
			return "", err
		}
		replace[filepath.Join(virtual, "main.go")] = mainFile
	}
	b, err := json.MarshalIndent(map[string]any{"Replace": replace}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(out, "overlay.json")
	return path, writeIfChanged(path, b)
}

// writeIfChanged leaves an identical file alone, so its modification time
// does not invalidate the Go build cache.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return bundle.WriteFileAtomic(path, data)
}

// mainSource generates the main package of a route's module. A route module
// of an app with a middleware (mw, imported as mwImport) links the middleware
// in too, so the host can run both in one call; the middleware module is
// still built on its own for requests that reach no route.
func mainSource(routeImport string, r *Route, mwImport string, mw *Route) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by wasmroute build. DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "// Module for %s (%s).\npackage main\n\n", r.Pattern, r.Source)
	b.WriteString("import (\n")
	needHTTP := false
	for _, kind := range r.Methods {
		needHTTP = needHTTP || kind == FuncHandler
	}
	if mw != nil && !r.Middleware {
		needHTTP = needHTTP || mw.Methods["Middleware"] == FuncHandler
	}
	if needHTTP {
		b.WriteString("\t\"net/http\"\n\n")
	}
	fmt.Fprintf(&b, "\t\"github.com/wasmroute/wasmroute/guest\"\n\troute %q\n", routeImport)
	if mw != nil && !r.Middleware {
		fmt.Fprintf(&b, "\tmiddleware %q\n", mwImport)
	}
	b.WriteString(")\n\nfunc init() {\n")
	// register writes call(handler), where call is "guest.Handle(\"GET\", "
	// or "guest.HandleMiddleware(".
	register := func(call, pkg, name string, kind HandlerKind) {
		if kind == FuncHandler {
			fmt.Fprintf(&b, "\t%shttp.HandlerFunc(%s.%s))\n", call, pkg, name)
		} else {
			fmt.Fprintf(&b, "\t%sguest.HandlerOf(%s.%s))\n", call, pkg, name)
		}
	}
	switch {
	case r.Middleware:
		register("guest.HandleMiddleware(", "route", "Middleware", r.Methods["Middleware"])
	case mw != nil:
		register("guest.HandleMiddleware(", "middleware", "Middleware", mw.Methods["Middleware"])
	}
	for _, m := range r.MethodList() {
		register(fmt.Sprintf("guest.Handle(%q, ", m), "route", m, r.Methods[m])
	}
	b.WriteString("}\n\n// main is not called: the module is a reactor.\nfunc main() {}\n")
	if src, err := format.Source(b.Bytes()); err == nil {
		return src
	}
	return b.Bytes()
}

// findModule returns the root directory and module path of the Go module
// containing dir.
func findModule(dir string) (root, path string, err error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok {
					if p := strings.Trim(strings.TrimSpace(rest), `"`); p != "" {
						return d, p, nil
					}
				}
			}
			return "", "", fmt.Errorf("%s: no module line", filepath.Join(d, "go.mod"))
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("%s is not inside a Go module (run `go mod init` and `go get github.com/wasmroute/wasmroute`)", dir)
		}
	}
}

// workDir is where the build keeps the sources it generates for the app in
// dir (the overlay and the main packages), outside the bundle and outside
// the app: in the user's cache, one directory per app.
func workDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	work := filepath.Join(base, "wasmroute", "build", bundle.Sum([]byte(abs))[:16])
	return work, os.MkdirAll(work, 0o755)
}

// removeLegacy removes what bundles before content addressing kept in the
// bundle directory: one manifest, generated sources, and modules named by
// route.
func removeLegacy(out string) {
	for _, name := range []string{"manifest.json", "gen", "overlay.json", "overlay-native.json"} {
		os.RemoveAll(filepath.Join(out, name))
	}
	legacy, _ := filepath.Glob(filepath.Join(out, bundle.ModulesDir, "[rm]_*.wasm"))
	for _, f := range legacy {
		os.Remove(f)
	}
}
