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
	// Only, if not nil, names the routes (by ID) whose sources changed since
	// the previous build: a module none of them is linked into, whose route
	// table is unchanged, keeps the module of the previous build. Used by
	// `wasmroute dev`.
	Only map[string]bool
	// OutDir is where the bundle goes. Defaults to DIR/.wasmroute.
	OutDir string
	// NoLoopCheck leaves out the countdown that lets the host stop a guest
	// at its time limit. Only scripts/bench uses it, to measure what the
	// countdown costs; such a module can loop forever.
	NoLoopCheck bool
	// Progress, if set, receives a line for each step of a build that
	// compiles: what it compiles, and each module when it is done.
	Progress func(line string)
}

// Result describes a finished build.
type Result struct {
	Routes   []*Route
	Manifest *bundle.Manifest
	// Modules are the modules of the bundle, as in Manifest.Modules, with
	// the routes each serves.
	Modules []ModuleInfo
	// Compiled lists the IDs of the routes linked into a module compiled
	// this time.
	Compiled []string
	// Deps maps each route ID to the directories of the app's own packages
	// the route is built from: its folder and every local package it
	// imports, directly or not. `wasmroute dev` rebuilds a module when a
	// file in one of them changes.
	Deps     map[string][]string
	Duration time.Duration
}

// ModuleInfo describes one module of a build.
type ModuleInfo struct {
	bundle.Module
	// Patterns are the routes the module serves.
	Patterns []string
	// Compiled is whether this build compiled it, rather than keeping the
	// previous build's.
	Compiled bool
}

// Error is a failed build: the compiler's output, with paths pointing at
// the user's files.
type Error struct {
	Module string // what failed to build: "the app's module", a route
	Output string
}

// Error says what failed to build, with the compiler's output.
func (e *Error) Error() string { return fmt.Sprintf("%s: build failed:\n%s", e.Module, e.Output) }

// group is the routes linked into one module.
type group struct {
	name    string // the generated main package: "app" or "net"
	network bool
	routes  []int // indices into the manifest's routes
}

// Build discovers the app in dir, compiles its routes to WebAssembly and writes
// the bundle to dir/.wasmroute. Every route, and the middleware, is linked
// into one module, with a generated dispatcher that finds the route by its
// index in the manifest; routes that use the network get a second module,
// so that the others do not pay for its runtime (RATIONALE.md, "One module
// per app"). The manifest is written only when every module compiled, so a
// failed build leaves the previous bundle usable.
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
	var mw *Route
	var served []*Route // routes in manifest order
	for _, r := range routes {
		if r.Middleware {
			mw = r
		} else {
			served = append(served, r)
		}
	}
	patterns := make([]string, len(served))
	for i, r := range served {
		patterns[i] = r.Pattern
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
	removeLegacy(out)
	work, err := workDir(dir)
	if err != nil {
		return nil, err
	}
	importBase, err := importBase(dir, modRoot, modPath)
	if err != nil {
		return nil, err
	}
	replace, err := writeRouteSources(dir, work, routes)
	if err != nil {
		return nil, err
	}
	overlay := filepath.Join(work, "overlay.json")
	if err := writeOverlay(overlay, replace); err != nil {
		return nil, err
	}
	deps, network, err := routeDeps(ctx, dir, overlay, routes)
	if err != nil {
		return nil, err
	}
	groups := plan(served, mw, network)
	changed := make([]bool, len(groups))
	for i, g := range groups {
		mainFile := filepath.Join(work, "gen", g.name+".go")
		src := mainSource(importBase, served, g, mw)
		if changed[i], err = writeFileIfChanged(mainFile, src); err != nil {
			return nil, err
		}
		replace[filepath.Join(dir, genDir, g.name, "main.go")] = mainFile
	}
	if err := writeOverlay(overlay, replace); err != nil {
		return nil, err
	}

	// Compile the modules whose sources changed, at once.
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	m := &bundle.Manifest{ABI: abi.Version}
	infos := make([]ModuleInfo, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	var progressMu sync.Mutex
	var routesToBuild, modulesToBuild int
	for i, g := range groups {
		last := filepath.Join(work, g.name+".module")
		if prev, network, ok := reusable(out, last, g, served, mw, opts.Only, changed[i]); ok {
			infos[i].SHA256, infos[i].Network = prev, network
			continue
		}
		infos[i].Compiled = true
		routesToBuild += len(g.routes)
		modulesToBuild++
	}
	if modulesToBuild > 0 {
		progress(fmt.Sprintf("compiling %d routes for GOOS=wasip1 GOARCH=wasm and linking %d module%s", routesToBuild,
			modulesToBuild, map[bool]string{true: "s"}[modulesToBuild > 1]))
	}
	for i, g := range groups {
		if !infos[i].Compiled {
			continue
		}
		last := filepath.Join(work, g.name+".module")
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			sum, network, err := compileModule(ctx, dir, out, overlay, g, !opts.NoLoopCheck)
			if err == nil {
				err = bundle.WriteFileAtomic(last, []byte(fmt.Sprintf("%s %t\n", sum, network)))
			}
			infos[i].SHA256, infos[i].Network, errs[i] = sum, network, err
			if err == nil {
				progressMu.Lock()
				progress(fmt.Sprintf("built %s in %.1fs", moduleLabel(g), time.Since(t0).Seconds()))
				progressMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := joinBuildErrors(errs); err != nil {
		return nil, err
	}
	res := &Result{Routes: routes, Manifest: m, Deps: deps}
	m.Routes = make([]bundle.Route, len(served))
	for i, g := range groups {
		info, err := os.Stat(filepath.Join(out, bundle.ModulePath(infos[i].SHA256)))
		if err != nil {
			return nil, err
		}
		infos[i].File, infos[i].Size = bundle.ModulePath(infos[i].SHA256), info.Size()
		m.Modules = append(m.Modules, infos[i].Module)
		for _, ri := range g.routes {
			r := served[ri]
			m.Routes[ri] = bundle.Route{Pattern: r.Pattern, Source: r.Source, Methods: r.MethodList(), Module: i, Config: r.Config}
			infos[i].Patterns = append(infos[i].Patterns, r.Pattern)
			if infos[i].Compiled {
				res.Compiled = append(res.Compiled, r.ID)
			}
		}
	}
	if mw != nil {
		m.Middleware = &bundle.Middleware{Source: mw.Source, Matcher: mw.Matcher}
		if infos[0].Compiled {
			res.Compiled = append(res.Compiled, mw.ID)
		}
	}
	if err := cfg.Apply(m); err != nil {
		return nil, err
	}
	if _, err := bundle.Write(out, m); err != nil {
		return nil, err
	}
	res.Modules = infos
	res.Duration = time.Since(start)
	return res, nil
}

// plan groups the routes into modules: one for all of them, unless some,
// and not the middleware, use the network; those get a module of their own.
func plan(served []*Route, mw *Route, network map[string]bool) []*group {
	app, net := &group{name: "app"}, &group{name: "net", network: true}
	allNet := mw != nil && network[mw.ID]
	for i, r := range served {
		if network[r.ID] || allNet {
			net.routes = append(net.routes, i)
		} else {
			app.routes = append(app.routes, i)
		}
	}
	switch {
	case len(net.routes) == 0:
		return []*group{app}
	case len(app.routes) == 0:
		return []*group{net}
	}
	return []*group{app, net}
}

// reusable returns the SHA-256 of the module the previous build made for
// g (recorded in last), and whether it uses the network, if this build can
// keep it: it is still in the bundle, its generated dispatcher did not
// change, and none of its routes (or the middleware, which every module
// links) is among only's changed routes.
func reusable(out, last string, g *group, served []*Route, mw *Route, only map[string]bool, changed bool) (sum string, network, ok bool) {
	if only == nil || changed || (mw != nil && only[mw.ID]) {
		return "", false, false
	}
	for _, ri := range g.routes {
		if only[served[ri].ID] {
			return "", false, false
		}
	}
	b, err := os.ReadFile(last)
	if err != nil {
		return "", false, false
	}
	sum, flag, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if _, err := os.Stat(filepath.Join(out, bundle.ModulePath(sum))); err != nil {
		return "", false, false
	}
	return sum, flag == "true", true
}

// moduleLabel names g's module in messages.
func moduleLabel(g *group) string {
	if g.network {
		return "the app's network module"
	}
	return "the app's module"
}

// compileModule builds g's module into the bundle in out, under its
// SHA-256, and returns the sum and whether the module imports the socket
// functions.
func compileModule(ctx context.Context, dir, out, overlay string, g *group, loopCheck bool) (sum string, network bool, err error) {
	label := moduleLabel(g)
	// A unique temporary name keeps two builds of the same app (dev running
	// while `wasmroute build` runs, or parallel tests) from colliding.
	f, err := os.CreateTemp(filepath.Join(out, bundle.ModulesDir), g.name+"-*.tmp")
	if err != nil {
		return "", false, err
	}
	tmp := f.Name()
	f.Close()
	// The getaddrinfo tag makes github.com/stealthrocket/net resolve names
	// through the host (sock_getaddrinfo), where the allowlist is checked;
	// Go's own resolver cannot reach DNS from WASI.
	// -checklinkname=0 lets the SDK reach the runtime's random state, which
	// it reseeds in every clone (guest/reseed_wasip1.go).
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-tags=getaddrinfo", "-overlay", overlay,
		"-ldflags=-s -w -checklinkname=0", "-o", tmp, "./"+genDir+"/"+g.name)
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
		return "", false, &Error{Module: label, Output: msg}
	}
	bin, err := os.ReadFile(tmp)
	os.Remove(tmp)
	if err != nil {
		return "", false, err
	}
	bin = mergeDataSegments(bin)
	if loopCheck {
		bin, err = addInterrupt(bin)
	}
	if err != nil {
		return "", false, &Error{Module: label, Output: "adding the time-limit check to the module: " + err.Error()}
	}
	// A module this cannot prepare is served from fresh instances; the
	// host says so when it loads it.
	if cloneable, err := prepareClones(bin); err == nil {
		bin = cloneable
	}
	_, sum, err = bundle.AddModule(out, bin)
	return sum, usesSockets(bin), err
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

// importBase is the import path of the app directory dir.
func importBase(dir, modRoot, modPath string) (string, error) {
	rel, err := filepath.Rel(modRoot, dir)
	if err != nil {
		return "", err
	}
	if rel == "." {
		return modPath, nil
	}
	return modPath + "/" + filepath.ToSlash(rel), nil
}

// writeRouteSources copies each route's files into work, and returns the
// overlay entries that map each route folder (whose name may hold [ ]
// characters Go rejects in import paths) to a valid virtual package,
// genDir/ID/route.
func writeRouteSources(dir, work string, routes []*Route) (map[string]string, error) {
	gen := filepath.Join(work, "gen")
	// The copies of routes that are gone (deleted or moved in dev) go.
	ids := map[string]bool{}
	for _, r := range routes {
		ids[r.ID] = true
	}
	if entries, err := os.ReadDir(gen); err == nil {
		for _, e := range entries {
			if e.IsDir() && !ids[e.Name()] {
				os.RemoveAll(filepath.Join(gen, e.Name()))
			}
		}
	}
	replace := map[string]string{}
	for _, r := range routes {
		virtual := filepath.Join(dir, genDir, r.ID, "route")
		for _, f := range r.Files {
			// A //line directive makes stack traces, like compiler errors,
			// name the user's file rather than the virtual one.
			src, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			copyPath := filepath.Join(gen, r.ID, filepath.Base(f))
			if err := os.MkdirAll(filepath.Dir(copyPath), 0o755); err != nil {
				return nil, err
			}
			lined := append([]byte("//line "+f+":1:1\n"), src...)
			if _, err := writeFileIfChanged(copyPath, lined); err != nil {
				return nil, err
			}
			replace[filepath.Join(virtual, filepath.Base(f))] = copyPath
		}
	}
	return replace, nil
}

// writeOverlay writes the overlay file `go build -overlay` reads.
func writeOverlay(path string, replace map[string]string) error {
	b, err := json.MarshalIndent(map[string]any{"Replace": replace}, "", "  ")
	if err != nil {
		return err
	}
	_, err = writeFileIfChanged(path, b)
	return err
}

// writeIfChanged leaves an identical file alone, so its modification time
// does not invalidate the Go build cache.
func writeIfChanged(path string, data []byte) error {
	_, err := writeFileIfChanged(path, data)
	return err
}

// writeFileIfChanged is writeIfChanged, and reports whether it wrote.
func writeFileIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, bundle.WriteFileAtomic(path, data)
}

// routeImport is the import path of a route's virtual package.
func routeImport(importBase string, r *Route) string {
	return importBase + "/" + genDir + "/" + r.ID + "/route"
}

// mainSource generates the main package of g's module: it imports every
// route of the group, and the middleware, and registers their handlers
// under each route's index in the manifest (served).
func mainSource(importBase string, served []*Route, g *group, mw *Route) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by wasmroute build. DO NOT EDIT.\n\n")
	b.WriteString("// Dispatcher of an app's module: the host passes the route's index.\npackage main\n\n")
	b.WriteString("import (\n")
	needHTTP := mw != nil && mw.Methods["Middleware"] == FuncHandler
	for _, ri := range g.routes {
		for _, kind := range served[ri].Methods {
			needHTTP = needHTTP || kind == FuncHandler
		}
	}
	if needHTTP {
		b.WriteString("\t\"net/http\"\n\n")
	}
	b.WriteString("\t\"github.com/wasmroute/wasmroute/guest\"\n")
	if mw != nil {
		fmt.Fprintf(&b, "\tmiddleware %q\n", routeImport(importBase, mw))
	}
	for _, ri := range g.routes {
		fmt.Fprintf(&b, "\tr%d %q // %s\n", ri, routeImport(importBase, served[ri]), served[ri].Pattern)
	}
	b.WriteString(")\n\nfunc init() {\n")
	// register writes call(handler), where call is "guest.Handle(3, \"GET\", "
	// or "guest.HandleMiddleware(".
	// A var's type is only known to the compiler: HandlerFrom checks it as
	// the module initialises, and names the file when it is wrong.
	register := func(call, source, pkg, name string, kind HandlerKind) {
		if kind == FuncHandler {
			fmt.Fprintf(&b, "\t%shttp.HandlerFunc(%s.%s))\n", call, pkg, name)
		} else {
			fmt.Fprintf(&b, "\t%sguest.HandlerFrom(%q, %q, %s.%s))\n", call, source, name, pkg, name)
		}
	}
	if mw != nil {
		register("guest.HandleMiddleware(", mw.Source, "middleware", "Middleware", mw.Methods["Middleware"])
	}
	for _, ri := range g.routes {
		r := served[ri]
		for _, m := range r.MethodList() {
			register(fmt.Sprintf("guest.Handle(%d, %q, ", ri, m), r.Source, fmt.Sprintf("r%d", ri), m, r.Methods[m])
		}
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
			return "", "", fmt.Errorf("%s is not inside a Go module: start an app with `wasmroute init DIR`, or see \"Your first app\" in wasmroute's README", dir)
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
