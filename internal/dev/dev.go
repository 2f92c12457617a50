// Package dev is the `wasmroute dev` loop: build the app, serve it, watch its
// files, rebuild only the routes a change touches, and swap them into the
// running host without dropping requests in flight. A failed build is shown
// and the last good version keeps serving.
package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/appconfig"
	"github.com/wasmroute/wasmroute/internal/build"
)

// Event reports the outcome of one build.
type Event struct {
	// Compiled lists the patterns of the routes compiled by this build.
	Compiled []string
	// Err is the build error, or nil when the new build is being served.
	Err error
}

// Loop builds and serves one app directory. Use New, then Handler to serve
// and Run to watch.
type Loop struct {
	dir  string
	out  io.Writer
	log  *slog.Logger
	opts host.Options

	// Events, if set, receives every build outcome. Tests use it to wait
	// for a rebuild.
	Events chan<- Event

	mu     sync.Mutex
	host   *host.Host
	deps   map[string][]string // route ID -> directories it is built from
	routes []*build.Route
}

// debounce is how long the loop waits after a file event for more, so that an
// editor saving several files triggers one build.
const debounce = 100 * time.Millisecond

// New makes a loop for the app in dir. Build progress and errors go to out;
// opts configure the host.
func New(dir string, out io.Writer, opts host.Options) (*Loop, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Saved code answers from the interpreter while it compiles.
	opts.FastStart = true
	return &Loop{dir: abs, out: out, log: opts.Logger, opts: opts}, nil
}

// Handler serves the app: the host once a build has succeeded, and until then
// a 503 naming the build error.
func (l *Loop) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		h := l.host
		l.mu.Unlock()
		if h == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"The app has not built yet: see the wasmroute dev output"}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Run builds the app, then watches it and rebuilds on change until ctx is
// done. It returns only for ctx or for a watcher failure.
func (l *Loop) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := l.watchTree(w, l.dir); err != nil {
		return err
	}
	l.rebuild(ctx, nil)
	defer l.close()

	changed := map[string]bool{}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			return fmt.Errorf("watching %s: %w", l.dir, err)
		case ev := <-w.Events:
			if ev.Name == filepath.Join(l.dir, ".env") {
				// Secrets: the host reads them again, nothing rebuilds.
				l.reloadSecrets()
				continue
			}
			if ignored(l.dir, ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = l.watchTree(w, ev.Name)
				}
			}
			changed[ev.Name] = true
			timer = time.After(debounce)
		case <-timer:
			timer = nil
			files := changed
			changed = map[string]bool{}
			l.rebuild(ctx, files)
		}
	}
}

// reloadSecrets makes the host read the app's secrets again, after .env
// changed.
func (l *Loop) reloadSecrets() {
	l.mu.Lock()
	h := l.host
	l.mu.Unlock()
	if h == nil {
		return
	}
	if err := h.Reload(); err != nil {
		fmt.Fprintf(l.out, ".env changed, but the app cannot reload: %v\n", err)
		return
	}
	fmt.Fprintln(l.out, ".env changed: the app's secrets are read again")
}

func (l *Loop) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.host != nil {
		l.host.Close(context.Background())
	}
}

// ignored reports whether a path is outside what the loop watches: the
// bundle, data directories and dot folders.
func ignored(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return true
	}
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part != "." && (strings.HasPrefix(part, ".") || part == "node_modules") {
			return true
		}
	}
	return false
}

func (l *Loop) watchTree(w *fsnotify.Watcher, root string) error {
	return filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != l.dir && ignored(l.dir, path) {
			return filepath.SkipDir
		}
		return w.Add(path)
	})
}

// rebuild builds the routes that files (nil: all) touch and swaps them in.
func (l *Loop) rebuild(ctx context.Context, files map[string]bool) {
	start := time.Now()
	only, err := l.affected(files)
	if err != nil {
		l.report(Event{Err: err})
		return
	}
	if only != nil && len(only) == 0 && !structural(files) {
		return // nothing any route is built from
	}
	if files != nil {
		fmt.Fprintf(l.out, "change in %s -> rebuilding %s\n", l.describeFiles(files), l.describeRoutes(only))
	}
	opts := build.Options{Only: only}
	if files == nil {
		// The first build can take a while on empty caches: say what it does.
		opts.Progress = func(line string) { fmt.Fprintln(l.out, line) }
	}
	res, err := build.Build(ctx, l.dir, opts)
	if err != nil {
		l.report(Event{Err: err})
		return
	}
	deps := res.Deps
	if err := l.swap(res); err != nil {
		l.report(Event{Err: err})
		return
	}
	l.mu.Lock()
	l.deps, l.routes = deps, res.Routes
	l.mu.Unlock()

	// What changed, not everything linked into the module with it.
	var compiled []string
	for _, r := range res.Routes {
		if !r.Middleware && slices.Contains(res.Compiled, r.ID) && (only == nil || only[r.ID]) {
			compiled = append(compiled, r.Pattern)
		}
	}
	if files == nil {
		tw := tabwriter.NewWriter(l.out, 0, 4, 2, ' ', 0)
		for _, r := range res.Manifest.Routes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Pattern, strings.Join(r.Methods, ", "), r.Source)
		}
		tw.Flush()
		fmt.Fprintf(l.out, "Built %d routes in %.1fs\n", len(res.Manifest.Routes), time.Since(start).Seconds())
	} else {
		fmt.Fprintf(l.out, "Rebuilt %s in %.1fs\n", describe(compiled), time.Since(start).Seconds())
	}
	l.report(Event{Compiled: compiled})
}

// describeFiles names the changed files' folders, relative to the app.
func (l *Loop) describeFiles(files map[string]bool) string {
	seen := map[string]bool{}
	var dirs []string
	for f := range files {
		rel, err := filepath.Rel(l.dir, filepath.Dir(f))
		if err != nil {
			rel = filepath.Dir(f)
		}
		if rel == "." {
			rel = filepath.Base(f)
		}
		if !seen[rel] {
			seen[rel] = true
			dirs = append(dirs, filepath.ToSlash(rel))
		}
	}
	slices.Sort(dirs)
	return strings.Join(dirs, ", ")
}

// describeRoutes names the routes with IDs in only (nil: all of them).
func (l *Loop) describeRoutes(only map[string]bool) string {
	if only == nil {
		return "the app"
	}
	l.mu.Lock()
	routes := l.routes
	l.mu.Unlock()
	var names []string
	for _, r := range routes {
		if only[r.ID] {
			names = append(names, r.Pattern)
		}
	}
	if len(names) == 0 {
		return "the route table"
	}
	return strings.Join(names, ", ")
}

func describe(patterns []string) string {
	if len(patterns) == 0 {
		return "the route table"
	}
	return strings.Join(patterns, ", ")
}

// swap starts the host on the first build and reloads it on later ones.
func (l *Loop) swap(res *build.Result) error {
	l.mu.Lock()
	h := l.host
	l.mu.Unlock()
	bundleDir := filepath.Join(l.dir, bundle.DirName)
	if h != nil {
		return h.Reload()
	}
	h, err := host.New(bundleDir, l.opts)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.host = h
	l.mu.Unlock()
	return nil
}

func (l *Loop) report(ev Event) {
	if ev.Err != nil {
		fmt.Fprintf(l.out, "Build failed; still serving the last good build:\n%v\n", ev.Err)
	}
	if l.Events != nil {
		l.Events <- ev
	}
}

// affected returns the IDs of the routes built from any of files, or nil
// (everything) when the loop has no dependency information or a module file
// changed.
func (l *Loop) affected(files map[string]bool) (map[string]bool, error) {
	l.mu.Lock()
	deps := l.deps
	l.mu.Unlock()
	if files == nil || deps == nil {
		return nil, nil
	}
	dirs := map[string]bool{}
	for f := range files {
		switch filepath.Base(f) {
		case "go.mod", "go.sum", "go.work":
			return nil, nil
		}
		dirs[filepath.Dir(f)] = true
	}
	routes, err := build.Discover(l.dir)
	if err != nil {
		return nil, err
	}
	only := map[string]bool{}
	for _, r := range routes {
		ds, known := deps[r.ID]
		if !known {
			only[r.ID] = true // a new route
			continue
		}
		for _, d := range ds {
			if dirs[d] {
				only[r.ID] = true
			}
		}
	}
	return only, nil
}

// structural reports whether files may change the manifest without touching
// a route's code: a route.go created or removed, a folder renamed, or the
// app's wasmroute.toml edited.
func structural(files map[string]bool) bool {
	for f := range files {
		switch {
		case filepath.Base(f) == build.RouteFile, filepath.Base(f) == appconfig.FileName, filepath.Ext(f) == "":
			return true
		}
	}
	return false
}
