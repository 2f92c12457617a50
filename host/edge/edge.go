// Package edge is an edge host: many apps on one host.Engine, routed by the
// Host header, deployed and rolled back while it serves, with its state in
// a data directory that survives restarts:
//
//	DATA/modules/<sha256>.wasm    every module uploaded, by digest
//	DATA/apps/<name>/             the app's bundle (package bundle): its
//	                              versions, current, and hard links to its modules
//	DATA/apps/<name>/domains/<version>.json
//	                              the host names it serves with that version
//
// A deploy writes the new version beside the old ones, starts it, and only
// then switches the bundle's current pointer (an atomic rename) and the
// route table; requests in flight finish on the old version.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/bundle/oci"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/kv"
)

// Options configure a Server.
type Options struct {
	// Engine configures the engine every app runs on.
	Engine host.EngineOptions
	// Logger receives the server's own lines. Defaults to slog.Default().
	Logger *slog.Logger
	// App returns the host options of an app (secrets, limits), called
	// each time a version of it is loaded. Defaults to host.Options with
	// the Logger.
	App func(name string) host.Options
	// KV opens an app's key-value store, once: every version of the app
	// shares it, and it closes when the app is deleted or the server
	// closes. Defaults to one in memory per app.
	KV func(name string) (kv.Store, error)
	// KeepVersions is how many versions of each app the host keeps to roll
	// back to, the current one included; older ones, and the modules only
	// they use, are removed. Default bundle.KeepVersions.
	KeepVersions int
	// Registry says how DeployRef reaches OCI registries: plain HTTP, and
	// the docker config file with their credentials.
	Registry oci.Options
}

// Server serves the apps in a data directory. It is an http.Handler.
type Server struct {
	data string
	opts Options
	log  *slog.Logger
	e    *host.Engine

	m *metrics

	mu     sync.RWMutex
	apps   map[string]*app
	stores map[string]kv.Store // by app, under mu
	// domains maps every domain (exact, or *.wildcard) to its app: the
	// route table, rebuilt from apps whenever they change.
	domains map[string]*app
	// deploying holds a lock per app, so deploys of one app never
	// interleave.
	deploying sync.Map
}

type app struct {
	name    string
	domains []string
	h       *host.Host
	version string
}

// failpoint ends the process at the named step of a deploy when
// WASMROUTE_FAILPOINT names it, without any cleanup, as kill -9 would: the
// crash tests use it to show that the data directory is whole after a
// crash at every step.
func failpoint(step string) {
	if os.Getenv("WASMROUTE_FAILPOINT") == step {
		os.Exit(137)
	}
}

// ErrBadRequest marks errors that are the client's: a bad name, digest,
// manifest or module.
var ErrBadRequest = errors.New("bad request")

// ErrRegistry marks a registry that DeployRef could not pull from: down,
// refusing, or without the reference.
var ErrRegistry = errors.New("registry")

var appName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether name can name an app (and a directory).
func ValidName(name string) bool { return appName.MatchString(name) }

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Open loads every app in the data directory and returns the Server.
func Open(data string, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Engine.Logger == nil {
		opts.Engine.Logger = opts.Logger
	}
	if opts.KeepVersions <= 0 {
		opts.KeepVersions = bundle.KeepVersions
	}
	for _, d := range []string{"modules", "apps"} {
		if err := os.MkdirAll(filepath.Join(data, d), 0o755); err != nil {
			return nil, err
		}
	}
	s := &Server{data: data, opts: opts, log: opts.Logger, apps: map[string]*app{}, stores: map[string]kv.Store{}}
	s.m = newMetrics(s)
	engineOpts := opts.Engine
	engineOpts.OnCompile = func(took time.Duration) { s.m.compile.Observe(took.Seconds()) }
	engineOpts.OnInstance = func(clone bool, took time.Duration) {
		kind := "fresh"
		if clone {
			kind = "clone"
		}
		s.m.instance.WithLabelValues(kind).Observe(took.Seconds())
	}
	e, err := host.NewEngine(engineOpts)
	if err != nil {
		return nil, err
	}
	s.e = e
	entries, err := os.ReadDir(filepath.Join(data, "apps"))
	if err != nil {
		return nil, err
	}
	for _, ent := range entries {
		if !ent.IsDir() || !ValidName(ent.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.appDir(ent.Name()), bundle.CurrentName)); os.IsNotExist(err) {
			continue // its first deploy never switched
		}
		a, err := s.load(ent.Name(), "")
		if err != nil {
			// One broken app does not keep the others from serving.
			s.log.Error("app not loaded", slog.String("app", ent.Name()), slog.String("error", err.Error()))
			continue
		}
		s.apps[a.name] = a
	}
	s.reindexLocked()
	return s, nil
}

func (s *Server) appDir(name string) string { return filepath.Join(s.data, "apps", name) }

func (s *Server) appOptions(name string) host.Options {
	if s.opts.App != nil {
		return s.opts.App(name)
	}
	return host.Options{Logger: s.log}
}

// load loads an app's version (its current one when version is "").
func (s *Server) load(name, version string) (*app, error) {
	dir := s.appDir(name)
	opts := s.appOptions(name)
	opts.AppName, opts.Version = name, version
	store, err := s.store(name)
	if err != nil {
		return nil, err
	}
	opts.KV = store
	opts.OnRequest = func(route string, status int, took time.Duration) { s.m.observe(name, route, status, took) }
	opts.OnCache = func(route, state string) { s.m.cache.WithLabelValues(name, route, state).Inc() }
	h, err := s.e.Load(dir, opts)
	if err != nil {
		return nil, err
	}
	a := &app{name: name, h: h, version: version}
	if version == "" {
		m, err := bundle.Load(dir)
		if err == nil {
			a.version = m.Version
		}
	}
	if b, err := os.ReadFile(domainsFile(dir, a.version)); err == nil {
		_ = json.Unmarshal(b, &a.domains)
	}
	return a, nil
}

// domainsFile holds the domains an app serves with a version. It is
// written before the switch to that version, so the switch (the rename of
// current) changes the version and its domains at once.
func domainsFile(dir, version string) string {
	return filepath.Join(dir, "domains", version+".json")
}

// writeDomains records the domains of a version of the app in dir.
func writeDomains(dir, version string, domains []string) error {
	if err := os.MkdirAll(filepath.Join(dir, "domains"), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(domains)
	return bundle.WriteFileAtomic(domainsFile(dir, version), b)
}

// HasModule reports whether the module with the digest is stored.
func (s *Server) HasModule(sum string) bool {
	_, err := os.Stat(filepath.Join(s.data, bundle.ModulePath(sum)))
	return validSum(sum) && err == nil
}

// AddModule stores a module under its digest, which must be sum.
func (s *Server) AddModule(sum string, module []byte) error {
	if !validSum(sum) {
		return fmt.Errorf("%w: %q is not a sha256 digest", ErrBadRequest, sum)
	}
	if got := bundle.Sum(module); got != sum {
		return fmt.Errorf("%w: the module's sha256 is %s, not %s", ErrBadRequest, got, sum)
	}
	if len(module) < 8 || string(module[:4]) != "\x00asm" {
		return fmt.Errorf("%w: not a WebAssembly module", ErrBadRequest)
	}
	_, _, err := bundle.AddModule(s.data, module)
	return err
}

// Deployment is what a deploy did: the version it made current, the
// reference it pulled the bundle from (DeployRef), and its steps.
type Deployment struct {
	Version string `json:"version"`
	Ref     string `json:"ref,omitempty"`
	Steps   []Step `json:"steps"`
}

// Step is one step of a deploy (pull, check, compile, start, switch) and
// the time it took.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Deploy makes the bundle manifest (JSON, as in a bundle's versions/) the
// app's current version, serving domains: it checks the manifest and that
// every module it names is stored, starts the new version (compiling and
// starting an instance of each module), and only then switches to it. A
// failure leaves the old version serving. It returns the version id and
// how long each step took.
func (s *Server) Deploy(ctx context.Context, name string, manifest []byte, domains []string) (Deployment, error) {
	return s.deploy(ctx, name, manifest, domains, nil)
}

// deploy is Deploy, telling begin (if not nil) the name of each step as it
// starts, for a client that shows them as they go.
func (s *Server) deploy(ctx context.Context, name string, manifest []byte, domains []string, begin func(step string)) (d Deployment, err error) {
	if begin == nil {
		begin = func(string) {}
	}
	mark := time.Now()
	// step records the step that ended and announces the next.
	step := func(done, next string) {
		now := time.Now()
		d.Steps = append(d.Steps, Step{Name: done, Seconds: now.Sub(mark).Seconds()})
		mark = now
		if next != "" {
			begin(next)
		}
	}
	begin("check")
	defer func() {
		if ValidName(name) {
			s.m.deploys.WithLabelValues(name, result(err)).Inc()
		}
	}()
	if !ValidName(name) {
		return d, fmt.Errorf("%w: %q is not an app name (lower-case letters, digits and -, at most 63)", ErrBadRequest, name)
	}
	for _, domain := range domains {
		if domain == "" || strings.ContainsAny(domain, "/: ") {
			return d, fmt.Errorf("%w: %q is not a host name", ErrBadRequest, domain)
		}
	}
	lock := s.lock(name)
	lock.Lock()
	defer lock.Unlock()

	m, err := bundle.Parse(manifest)
	if err != nil {
		return d, fmt.Errorf("%w: manifest: %v", ErrBadRequest, err)
	}
	var missing []string
	for _, mod := range m.Modules {
		if !s.HasModule(mod.SHA256) {
			missing = append(missing, mod.SHA256)
		}
	}
	if len(missing) > 0 {
		return d, fmt.Errorf("%w: upload these modules first: %s", ErrBadRequest, strings.Join(missing, ", "))
	}
	dir := s.appDir(name)
	// A deploy that fails takes back the files it made: the app's versions
	// list only versions that started.
	var made []string
	_, statErr := os.Stat(dir)
	first := os.IsNotExist(statErr)
	defer func() {
		if err == nil {
			return
		}
		for _, p := range made {
			os.Remove(p)
		}
		if first && s.get(name) == nil {
			// Nothing of an app whose first deploy failed stays, its KV
			// store included.
			s.mu.Lock()
			st := s.stores[name]
			delete(s.stores, name)
			s.mu.Unlock()
			if st != nil {
				st.Close()
			}
			os.RemoveAll(dir)
		}
	}()
	for _, mod := range m.Modules {
		dst := filepath.Join(dir, bundle.ModulePath(mod.SHA256))
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return d, err
		}
		if err := os.Link(filepath.Join(s.data, bundle.ModulePath(mod.SHA256)), dst); err != nil && !os.IsExist(err) {
			return d, err
		}
		made = append(made, dst)
	}
	failpoint("deploy-linked")
	before, _ := bundle.Versions(dir)
	version, err := bundle.WriteVersion(dir, m)
	if err != nil {
		return d, err
	}
	if !slices.Contains(before, version) {
		made = append(made, filepath.Join(dir, bundle.VersionsDir, version+".json"))
	}
	failpoint("deploy-version-written")
	if _, err := bundle.LoadVersion(dir, version); err != nil {
		return d, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	next, err := s.load(name, version)
	if err != nil {
		return d, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	step("check", "compile")
	if err := next.h.Compile(); err != nil {
		next.h.Close(ctx)
		return d, fmt.Errorf("%w: the new version does not compile: %v", ErrBadRequest, err)
	}
	step("compile", "start")
	if err := next.h.Warm(ctx); err != nil {
		next.h.Close(ctx)
		return d, fmt.Errorf("%w: the new version does not start: %v", ErrBadRequest, err)
	}
	if m.App.Health != "" {
		step("start", "health")
		if err := s.healthCheck(ctx, next.h, m.App.Health); err != nil {
			next.h.Close(ctx)
			return d, fmt.Errorf("%w: the new version is not healthy: %v", ErrBadRequest, err)
		}
		step("health", "switch")
	} else {
		step("start", "switch")
	}
	if domains == nil {
		if old := s.get(name); old != nil {
			domains = old.domains
		}
	}
	next.domains = domains
	if _, err := os.Stat(domainsFile(dir, version)); err != nil {
		made = append(made, domainsFile(dir, version))
	}
	if err := writeDomains(dir, version, domains); err != nil {
		next.h.Close(ctx)
		return d, err
	}
	failpoint("deploy-started")
	// The switch: on disk, then in the route table.
	if err := bundle.SetCurrent(dir, version); err != nil {
		next.h.Close(ctx)
		return d, err
	}
	failpoint("deploy-switched")
	s.swap(next)
	step("switch", "")
	d.Version = version
	s.log.Info("deployed", slog.String("app", name), slog.String("version", version))
	// Keep the last KeepVersions versions, and the modules some app
	// still names.
	if err := bundle.Prune(dir, s.opts.KeepVersions); err != nil {
		s.log.Warn("old versions not pruned", slog.String("app", name), slog.String("error", err.Error()))
	}
	if kept, err := bundle.Versions(dir); err == nil {
		files, _ := os.ReadDir(filepath.Join(dir, "domains"))
		for _, f := range files {
			if v, _ := strings.CutSuffix(f.Name(), ".json"); !slices.Contains(kept, v) {
				os.Remove(filepath.Join(dir, "domains", f.Name()))
			}
		}
	}
	s.collectModules()
	return d, nil
}

// healthTimeout bounds a deploy's health check.
const healthTimeout = 10 * time.Second

// healthCheck sends GET path to a version about to serve, in process, and
// wants a 2xx answer within healthTimeout.
func (s *Server) healthCheck(ctx context.Context, h http.Handler, path string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://health.wasmroute.internal"+path, nil)
	if err != nil {
		return err
	}
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("User-Agent", "wasmroute-health-check")
	w := &recorder{header: http.Header{}}
	h.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status < 200 || w.status > 299 {
		return fmt.Errorf("GET %s answered %d %s", path, w.status, strings.TrimSpace(w.body.String()))
	}
	return nil
}

// recorder keeps the status and the start of the body of a response.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if room := 200 - r.body.Len(); room > 0 {
		r.body.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// DeployRef pulls the bundle that ref names from its OCI registry, only
// the modules the host lacks, each checked against its digest, and deploys
// it as Deploy does. A tag is resolved once; the returned pinned reference
// names the artifact by digest. A registry that fails leaves the app as it
// was.
func (s *Server) DeployRef(ctx context.Context, name, ref string, domains []string) (Deployment, error) {
	return s.deployRef(ctx, name, ref, domains, nil)
}

// deployRef is DeployRef, telling begin of each step as deploy does.
func (s *Server) deployRef(ctx context.Context, name, ref string, domains []string, begin func(string)) (Deployment, error) {
	if !ValidName(name) {
		return Deployment{}, fmt.Errorf("%w: %q is not an app name (lower-case letters, digits and -, at most 63)", ErrBadRequest, name)
	}
	if begin != nil {
		begin("pull")
	}
	start := time.Now()
	manifest, pinned, err := oci.Pull(ctx, ref, s, s.opts.Registry)
	switch {
	case errors.Is(err, oci.ErrNotBundle) || errors.Is(err, ErrBadRequest):
		err = fmt.Errorf("%w: %v", ErrBadRequest, err)
	case err != nil:
		err = fmt.Errorf("%w: %v", ErrRegistry, err)
	}
	if err != nil {
		s.m.deploys.WithLabelValues(name, result(err)).Inc()
		return Deployment{}, err
	}
	s.log.Info("pulled", slog.String("app", name), slog.String("ref", pinned))
	pulled := Step{Name: "pull", Seconds: time.Since(start).Seconds()}
	d, err := s.deploy(ctx, name, manifest, domains, begin)
	d.Ref = pinned
	d.Steps = append([]Step{pulled}, d.Steps...)
	return d, err
}

// collectModules removes the uploaded modules no app links any more, once
// they are an hour old (younger ones may belong to a deploy whose client is
// still uploading).
func (s *Server) collectModules() {
	used := map[string]bool{}
	apps, _ := os.ReadDir(filepath.Join(s.data, "apps"))
	for _, a := range apps {
		mods, _ := os.ReadDir(filepath.Join(s.data, "apps", a.Name(), bundle.ModulesDir))
		for _, m := range mods {
			used[m.Name()] = true
		}
	}
	mods, _ := os.ReadDir(filepath.Join(s.data, bundle.ModulesDir))
	for _, m := range mods {
		if info, err := m.Info(); err == nil && !used[m.Name()] && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(s.data, bundle.ModulesDir, m.Name()))
		}
	}
}

// Rollback makes an earlier version current: version, or with "" the one
// deployed before the current one.
func (s *Server) Rollback(ctx context.Context, name, version string) (_ string, err error) {
	defer func() {
		if s.get(name) != nil {
			s.m.rollbacks.WithLabelValues(name, result(err)).Inc()
		}
	}()
	lock := s.lock(name)
	lock.Lock()
	defer lock.Unlock()
	cur := s.get(name)
	if cur == nil {
		return "", fmt.Errorf("%w: no app %q", ErrBadRequest, name)
	}
	dir := s.appDir(name)
	if version == "" {
		versions, err := bundle.Versions(dir)
		if err != nil {
			return "", err
		}
		for i, v := range versions {
			if v == cur.version && i+1 < len(versions) {
				version = versions[i+1]
			}
		}
		if version == "" {
			return "", fmt.Errorf("%w: %s has no version before %.12s", ErrBadRequest, name, cur.version)
		}
	}
	next, err := s.load(name, version)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := next.h.Warm(ctx); err != nil {
		next.h.Close(ctx)
		return "", fmt.Errorf("%w: version %.12s does not start: %v", ErrBadRequest, version, err)
	}
	next.domains = cur.domains
	if err := writeDomains(dir, version, cur.domains); err != nil {
		next.h.Close(ctx)
		return "", err
	}
	if err := bundle.SetCurrent(dir, version); err != nil {
		next.h.Close(ctx)
		return "", err
	}
	s.swap(next)
	s.log.Info("rolled back", slog.String("app", name), slog.String("version", version))
	return version, nil
}

// Delete unloads an app and removes its directory.
func (s *Server) Delete(ctx context.Context, name string) error {
	lock := s.lock(name)
	lock.Lock()
	defer lock.Unlock()
	s.mu.Lock()
	a, st := s.apps[name], s.stores[name]
	delete(s.apps, name)
	delete(s.stores, name)
	s.reindexLocked()
	s.mu.Unlock()
	if a == nil {
		return fmt.Errorf("%w: no app %q", ErrBadRequest, name)
	}
	// Its cached answers go too: an app deployed again under the name,
	// with the same version, starts empty.
	if err := a.h.ExpireAll(ctx); err != nil {
		s.log.Warn("the deleted app's cache was not emptied", slog.String("app", name), slog.String("error", err.Error()))
	}
	a.h.Close(ctx)
	if st != nil {
		st.Close()
	}
	return os.RemoveAll(s.appDir(name))
}

// Revalidate marks the app's cached responses with any of tags, or to any
// of paths, stale, or with expire expired: what a guest's RevalidateTag,
// RevalidatePath and ExpireTag do, from outside.
func (s *Server) Revalidate(ctx context.Context, name string, tags, paths []string, expire bool) error {
	a := s.get(name)
	if a == nil {
		return fmt.Errorf("%w: no app %q", ErrBadRequest, name)
	}
	if len(tags)+len(paths) == 0 {
		return fmt.Errorf("%w: name tags or paths to revalidate", ErrBadRequest)
	}
	err := a.h.Revalidate(ctx, tags, paths, expire)
	if errors.Is(err, host.ErrBadTag) {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err == nil {
		s.log.Info("revalidated", slog.String("app", name), slog.Any("tags", tags), slog.Any("paths", paths), slog.Bool("expire", expire))
	}
	return err
}

// AppInfo describes a deployed app.
type AppInfo struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Versions []string `json:"versions"`
	Domains  []string `json:"domains"`
	Routes   []string `json:"routes"`
}

// Apps lists the apps, by name.
func (s *Server) Apps() []AppInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []AppInfo
	for _, a := range s.apps {
		vs, _ := bundle.Versions(s.appDir(a.name))
		out = append(out, AppInfo{Name: a.name, Version: a.version, Versions: vs, Domains: a.domains, Routes: a.h.Routes()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// store returns the app's key-value store, opening it the first time.
func (s *Server) store(name string) (kv.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stores[name]; st != nil {
		return st, nil
	}
	var st kv.Store = kv.NewMemory(kv.DefaultQuota)
	if s.opts.KV != nil {
		var err error
		if st, err = s.opts.KV(name); err != nil {
			return nil, err
		}
	}
	s.stores[name] = st
	return st, nil
}

func (s *Server) lock(name string) *sync.Mutex {
	l, _ := s.deploying.LoadOrStore(name, &sync.Mutex{})
	return l.(*sync.Mutex)
}

func (s *Server) get(name string) *app {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.apps[name]
}

// swap puts next in the route table and unloads the version it replaces;
// requests already in the old one finish there.
func (s *Server) swap(next *app) {
	s.mu.Lock()
	old := s.apps[next.name]
	s.apps[next.name] = next
	s.reindexLocked()
	s.mu.Unlock()
	if old != nil {
		old.h.Close(context.Background())
	}
}

// reindexLocked rebuilds the domain table from the apps; s.mu is held for
// writing.
func (s *Server) reindexLocked() {
	s.domains = map[string]*app{}
	for _, a := range s.apps {
		for _, d := range a.domains {
			s.domains[d] = a
		}
	}
}

// route finds the app serving a Host header: an exact domain first, then
// the longest wildcard (*.example.com) that matches, label by label.
func (s *Server) route(hostHeader string) *app {
	name := strings.ToLower(hostHeader)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if a := s.domains[name]; a != nil {
		return a
	}
	for rest := name; ; {
		_, after, ok := strings.Cut(rest, ".")
		if !ok {
			return nil
		}
		if a := s.domains["*."+after]; a != nil {
			return a
		}
		rest = after
	}
}

// ServeHTTP serves a request from the app its Host names.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := s.route(r.Host)
	if a == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"Unknown host"}`))
		return
	}
	g := s.m.inFlight.WithLabelValues(a.name)
	g.Inc()
	defer g.Dec()
	a.h.ServeHTTP(w, r)
}

// Metrics serves the server's Prometheus metrics.
func (s *Server) Metrics() http.Handler { return s.m.handler() }

// Close unloads every app and closes the engine.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	apps, stores := s.apps, s.stores
	s.apps, s.stores, s.domains = map[string]*app{}, map[string]kv.Store{}, map[string]*app{}
	s.mu.Unlock()
	for _, a := range apps {
		a.h.Close(ctx)
	}
	err := s.e.Close(ctx)
	for _, st := range stores {
		err = errors.Join(err, st.Close())
	}
	return err
}
