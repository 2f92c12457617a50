// Package bundle is the on-disk form of a built wasmroute app, the schema
// that `wasmroute build` writes and the host reads. A bundle directory holds
// immutable, content-addressed files:
//
//	modules/<sha256>.wasm     every module, named by its SHA-256
//	versions/<sha256>.json    every manifest, named by its own SHA-256: the version id
//	current                   the id of the active version
//
// A build adds modules and a version, then replaces current atomically, so
// a host never reads half a bundle, and earlier versions stay on disk to roll
// back to.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wasmroute/wasmroute/abi"
)

// DirName is the bundle directory inside an app directory.
const DirName = ".wasmroute"

// Names inside a bundle directory.
const (
	// ModulesDir holds the modules, each named by its SHA-256.
	ModulesDir = "modules"
	// VersionsDir holds the manifests, each named by its SHA-256.
	VersionsDir = "versions"
	// CurrentName is the file that names the active version.
	CurrentName = "current"
)

// Isolation values: whether instances serve many requests or one.
const (
	// IsolationPool keeps instances for request after request (the
	// default): state in a guest's memory may survive between requests.
	IsolationPool = "pool"
	// IsolationRequest gives every request an instance of its own, closed
	// after the response: no state survives between requests.
	IsolationRequest = "request"
)

// Values of SegmentConfig.Dynamic, as Next.js names them.
const (
	// DynamicAuto caches only what Revalidate or the response asks for.
	DynamicAuto = "auto"
	// DynamicForceDynamic never caches the route's responses.
	DynamicForceDynamic = "force-dynamic"
	// DynamicForceStatic caches the route's GET responses until they are
	// revalidated, as Revalidate = false does.
	DynamicForceStatic = "force-static"
	// DynamicError is force-static for the host (Next.js also fails the
	// build of a route that reads request data).
	DynamicError = "error"
)

// RevalidateNever is SegmentConfig.Revalidate for `const Revalidate =
// false`: cached until revalidated.
const RevalidateNever = -1

// Format is the version of the manifest's schema. A reader refuses a
// manifest of another format.
const Format = 3

// Limits on a bundle that every reader of one applies.
const (
	// MaxModules caps the modules of a bundle.
	MaxModules = 16
	// MaxModuleBytes caps one module.
	MaxModuleBytes = 256 << 20
)

// KeepVersions is how many versions, the current one included, Write keeps
// on disk; older ones, and modules no kept version names, are removed.
const KeepVersions = 5

// Manifest lists an app's modules and routes, and which module serves each
// route.
type Manifest struct {
	// Format is the schema version of the manifest (Format).
	Format int `json:"format"`
	// ABI is the guest ABI version the modules were built for.
	ABI int `json:"abi"`
	// Modules are the app's modules. Every route of an app is linked into
	// one module, with a dispatcher that finds it by its index in Routes;
	// routes that need another runtime (the network) get a second one.
	Modules []Module `json:"modules"`
	Routes  []Route  `json:"routes"`
	// App is the app-wide configuration from wasmroute.toml.
	App AppConfig `json:"app"`
	// Middleware is app/middleware.go, if the app has one: every module
	// links it in.
	Middleware *Middleware `json:"middleware,omitempty"`
	// Version is the manifest's SHA-256, which names the version; Load
	// sets it, and it is not part of the file.
	Version string `json:"-"`
}

// Module is one WebAssembly module of an app.
type Module struct {
	// File is the module's path in the bundle directory: ModulePath(SHA256).
	File string `json:"file"`
	// SHA256 is the hex SHA-256 of the module file.
	SHA256 string `json:"sha256"`
	// Size is the module's size in bytes.
	Size int64 `json:"size"`
	// Network is whether the module imports the WasmEdge socket functions
	// (its routes use github.com/stealthrocket/net): the host then gives it
	// a WASI with sockets, limited to the app's AllowedOutboundHosts.
	Network bool `json:"network,omitempty"`
}

// Middleware is the app's middleware, run before the route for requests
// whose path the matcher accepts. Every module links it in.
type Middleware struct {
	Source  string   `json:"source"`            // app/middleware.go
	Matcher []string `json:"matcher,omitempty"` // no patterns: every path
}

// AppConfig is the app-wide part of wasmroute.toml that the host applies.
// Secret values are never stored: only their names, resolved when the host
// starts.
type AppConfig struct {
	// Env holds plain environment variables every guest sees.
	Env map[string]string `json:"env,omitempty"`
	// Secrets names variables whose values come from the host's
	// environment or env file at start.
	Secrets []string `json:"secrets,omitempty"`
	// BodyLimit is the app's request body limit in bytes (0: the default).
	BodyLimit int64 `json:"bodyLimit,omitempty"`
	// CORS, if set, makes the host answer preflight requests and add
	// Access-Control-* headers for allowed origins.
	CORS *CORS `json:"cors,omitempty"`
	// Limits for every route, unless a route sets its own; zero means the
	// host's default. MaxDuration is in seconds; the sizes are in bytes.
	MaxDuration    int   `json:"maxDuration,omitempty"`
	MemoryLimit    int64 `json:"memoryLimit,omitempty"`
	MaxInstances   int   `json:"maxInstances,omitempty"`
	MaxURLLength   int64 `json:"maxUrlLength,omitempty"`
	MaxHeaderBytes int64 `json:"maxHeaderBytes,omitempty"`
	// Isolation is IsolationPool (the default, "") or IsolationRequest.
	Isolation string `json:"isolation,omitempty"`
	// AllowedOutboundHosts lists what guests may connect to: host:port
	// patterns or URLs (see package outbound). An entry "${NAME}" stands for
	// the value of the env variable or secret NAME at start.
	AllowedOutboundHosts []string `json:"allowedOutboundHosts,omitempty"`
	// Health is the path of the app's health route: an edge host deploys
	// a version only once GET Health answers 2xx.
	Health string `json:"health,omitempty"`
}

// CORS is the app's cross-origin resource sharing policy.
type CORS struct {
	AllowedOrigins   []string `json:"allowedOrigins"` // "*" or scheme://host[:port]
	AllowedMethods   []string `json:"allowedMethods,omitempty"`
	AllowedHeaders   []string `json:"allowedHeaders,omitempty"`
	ExposedHeaders   []string `json:"exposedHeaders,omitempty"`
	AllowCredentials bool     `json:"allowCredentials,omitempty"`
	MaxAge           int      `json:"maxAge,omitempty"` // seconds
}

// Route is one route.go file and the module that serves it.
type Route struct {
	// Pattern is the URL pattern in folder syntax: "/api/users/[id]".
	Pattern string `json:"pattern"`
	// Source is the route file, relative to the app directory, with "/"
	// separators: "app/api/users/[id]/route.go".
	Source string `json:"source"`
	// Methods are the HTTP methods the route exports, in canonical order.
	Methods []string `json:"methods"`
	// Module is the index in Manifest.Modules of the module serving the
	// route. The host calls it with the route's index in Manifest.Routes.
	Module int `json:"module"`
	// Config is the route segment config the file exports.
	Config SegmentConfig `json:"config"`
}

// SegmentConfig is the route segment config, read from the route file's
// exported constants at build time (const MaxDuration = 10).
type SegmentConfig struct {
	// MaxDuration is the wall-clock limit of one request, in seconds.
	MaxDuration int `json:"maxDuration,omitempty"`
	// Dynamic is Next.js's rendering hint: DynamicAuto (""),
	// DynamicForceDynamic, DynamicForceStatic or DynamicError.
	Dynamic string `json:"dynamic,omitempty"`
	// Revalidate is how long the host caches the route's GET responses,
	// in seconds, before it regenerates them in the background;
	// RevalidateNever (`const Revalidate = false`) caches them until they
	// are revalidated by tag or path, and 0 does not cache.
	Revalidate int `json:"revalidate,omitempty"`
	// BodyLimit is the request body limit in bytes.
	BodyLimit int64 `json:"bodyLimit,omitempty"`
	// MaxInstances caps the requests the route serves at once.
	MaxInstances int `json:"maxInstances,omitempty"`
	// Isolation is IsolationPool or IsolationRequest; "" takes the app's.
	Isolation string `json:"isolation,omitempty"`
}

// Load reads and validates the current version of the bundle in dir.
func Load(dir string) (*Manifest, error) {
	for tries := 0; ; tries++ {
		cur, err := os.ReadFile(filepath.Join(dir, CurrentName))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no bundle at %s (run `wasmroute build` first)", dir)
		}
		if err != nil {
			return nil, err
		}
		m, err := LoadVersion(dir, strings.TrimSpace(string(cur)))
		// Builds may have moved current on, and pruned this version,
		// between the two reads: read current again.
		if errors.Is(err, os.ErrNotExist) && tries < 10 {
			if now, _ := os.ReadFile(filepath.Join(dir, CurrentName)); string(now) != string(cur) {
				continue
			}
		}
		return m, err
	}
}

// LoadVersion reads and validates one version of the bundle in dir.
func LoadVersion(dir, version string) (*Manifest, error) {
	if !validSum(version) {
		return nil, fmt.Errorf("%s: %q is not a version id", filepath.Join(dir, CurrentName), version)
	}
	path := filepath.Join(dir, VersionsDir, version+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := Sum(b); sum != version {
		return nil, fmt.Errorf("%s is corrupt: sha256 %s", path, sum)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Version = version
	return m, nil
}

// Parse decodes a manifest and checks that this version of wasmroute can
// serve it: its format and ABI, and that every route names a module.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Format != Format {
		return nil, fmt.Errorf("manifest format %d; this version of wasmroute reads format %d (rebuild the app)", m.Format, Format)
	}
	if m.ABI != abi.Version {
		return nil, fmt.Errorf("bundle was built for ABI version %d; this host speaks version %d (rebuild the app)", m.ABI, abi.Version)
	}
	if len(m.Routes) == 0 {
		return nil, errors.New("the bundle has no routes")
	}
	if len(m.Modules) > MaxModules {
		return nil, fmt.Errorf("%d modules; at most %d", len(m.Modules), MaxModules)
	}
	for _, mod := range m.Modules {
		if !validSum(mod.SHA256) || mod.File != ModulePath(mod.SHA256) {
			return nil, fmt.Errorf("invalid module path %q", mod.File)
		}
	}
	for _, r := range m.Routes {
		if r.Module < 0 || r.Module >= len(m.Modules) {
			return nil, fmt.Errorf("route %s: no module %d", r.Pattern, r.Module)
		}
	}
	return &m, nil
}

// ModulePath is where the module with a SHA-256 lives in a bundle.
func ModulePath(sum string) string { return ModulesDir + "/" + sum + ".wasm" }

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// AddModule stores a module in the bundle in dir under its SHA-256, unless
// it is there already, and returns its path in the bundle and its sum.
func AddModule(dir string, module []byte) (path, sum string, err error) {
	sum = Sum(module)
	path = ModulePath(sum)
	full := filepath.Join(dir, path)
	if _, err := os.Stat(full); err == nil {
		return path, sum, nil
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return "", "", err
	}
	return path, sum, WriteFileAtomic(full, module)
}

// ReadModule reads a module from the bundle in dir and checks it against
// its SHA-256.
func ReadModule(dir string, mod Module) ([]byte, error) {
	path := filepath.Join(dir, ModulePath(mod.SHA256))
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if sum := Sum(b); sum != mod.SHA256 {
		return nil, fmt.Errorf("module %s is corrupt: sha256 %s, manifest says %s", path, sum, mod.SHA256)
	}
	return b, nil
}

// Sum returns the hex SHA-256 of a module, as recorded in the manifest.
func Sum(module []byte) string {
	s := sha256.Sum256(module)
	return hex.EncodeToString(s[:])
}

// Write stores m as a new version of the bundle in dir, makes it the
// current one, and returns its id. The version file is written before
// current is replaced, each atomically, so a host reading the bundle sees
// the old version or the new one, whole. Versions beyond the last
// KeepVersions, and the modules only they named, are removed.
func Write(dir string, m *Manifest) (string, error) {
	version, err := WriteVersion(dir, m)
	if err != nil {
		return "", err
	}
	if err := WriteFileAtomic(filepath.Join(dir, CurrentName), []byte(version+"\n")); err != nil {
		return "", err
	}
	return version, prune(dir, version, KeepVersions)
}

// SetCurrent makes version, which must be on disk and valid, the current
// version of the bundle in dir, atomically: a rollback, or the switch of a
// deploy whose version was written with WriteVersion.
func SetCurrent(dir, version string) error {
	if _, err := LoadVersion(dir, version); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, CurrentName), []byte(version+"\n"))
}

// WriteVersion stores m as a version of the bundle in dir without making it
// current, and returns its id; SetCurrent switches to it.
func WriteVersion(dir string, m *Manifest) (string, error) {
	m.Format = Format
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	version := Sum(b)
	if err := os.MkdirAll(filepath.Join(dir, VersionsDir), 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, VersionsDir, version+".json")
	if _, err := os.Stat(path); err != nil {
		if err := WriteFileAtomic(path, b); err != nil {
			return "", err
		}
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now)
	m.Version = version
	return version, nil
}

// Versions lists the versions of the bundle in dir, newest first.
func Versions(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, VersionsDir))
	if err != nil {
		return nil, err
	}
	type version struct {
		id   string
		time time.Time
	}
	var vs []version
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if info, err := e.Info(); ok && err == nil && validSum(id) {
			vs = append(vs, version{id, info.ModTime()})
		}
	}
	slices.SortFunc(vs, func(a, b version) int { return b.time.Compare(a.time) })
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.id
	}
	return out, nil
}

// Prune removes the versions of the bundle in dir beyond the newest keep,
// never the current one, and the modules no kept version names (once they
// are an hour old).
func Prune(dir string, keep int) error {
	m, err := Load(dir)
	if err != nil {
		return err
	}
	return prune(dir, m.Version, keep)
}

// prune removes versions beyond the newest keep (never current) and the
// modules no kept version names. Errors leave files behind, which the next
// build tries again.
func prune(dir, current string, keep int) error {
	versions, err := Versions(dir)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for i, id := range versions {
		if i >= keep && id != current {
			os.Remove(filepath.Join(dir, VersionsDir, id+".json"))
			continue
		}
		m, err := LoadVersion(dir, id)
		if err != nil {
			continue // not ours to judge; its modules may go
		}
		for _, mod := range m.Modules {
			used[mod.SHA256] = true
		}
	}
	modules, err := os.ReadDir(filepath.Join(dir, ModulesDir))
	if err != nil {
		return err
	}
	for _, e := range modules {
		// A module written in the last hour may belong to a build still
		// running beside this one, whose version is not written yet.
		sum, ok := strings.CutSuffix(e.Name(), ".wasm")
		if info, err := e.Info(); ok && err == nil && validSum(sum) && !used[sum] && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(dir, ModulesDir, e.Name()))
		}
	}
	return nil
}

// WriteFileAtomic writes data to a temporary file beside path and renames it
// over path.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
