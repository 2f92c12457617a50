// Package bundle is the on-disk form of a built wasmroute app: a directory
// holding manifest.json and one WebAssembly module per route. `wasmroute
// build` writes bundles; the host reads them.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmroute/wasmroute/abi"
)

// DirName is the bundle directory inside an app directory.
const DirName = ".wasmroute"

// ManifestName is the manifest's file name inside a bundle.
const ManifestName = "manifest.json"

// Manifest lists an app's routes and the module that serves each.
type Manifest struct {
	// ABI is the guest ABI version the modules were built for.
	ABI     int       `json:"abi"`
	BuiltAt time.Time `json:"builtAt"`
	Routes  []Route   `json:"routes"`
	// App is the app-wide configuration from wasmroute.toml.
	App AppConfig `json:"app"`
	// Middleware is the module built from app/middleware.go, if any.
	Middleware *Middleware `json:"middleware,omitempty"`
}

// Middleware is the app's middleware module, run before the route for
// requests whose path the matcher accepts.
type Middleware struct {
	Source  string   `json:"source"` // app/middleware.go
	Module  string   `json:"module"`
	SHA256  string   `json:"sha256"`
	Size    int64    `json:"size"`
	Matcher []string `json:"matcher,omitempty"` // no patterns: every path
	Network bool     `json:"network,omitempty"` // as Route.Network
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
	// AllowedOutboundHosts lists what guests may connect to: host:port
	// patterns or URLs (see package outbound). An entry "${NAME}" stands for
	// the value of the env variable or secret NAME at start.
	AllowedOutboundHosts []string `json:"allowedOutboundHosts,omitempty"`
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

// Route is one route.go file and the module built from it.
type Route struct {
	// Pattern is the URL pattern in folder syntax: "/api/users/[id]".
	Pattern string `json:"pattern"`
	// Source is the route file, relative to the app directory, with "/"
	// separators: "app/api/users/[id]/route.go".
	Source string `json:"source"`
	// Methods are the HTTP methods the route exports, in canonical order.
	Methods []string `json:"methods"`
	// Module is the module's file name, relative to the bundle directory.
	Module string `json:"module"`
	// SHA256 is the hex SHA-256 of the module file.
	SHA256 string `json:"sha256"`
	// Size is the module's size in bytes.
	Size int64 `json:"size"`
	// Config is the route segment config the file exports.
	Config SegmentConfig `json:"config"`
	// Middleware is whether the module has the app's middleware linked in,
	// so the host can run both in one call (abi.FlagMiddleware).
	Middleware bool `json:"middleware,omitempty"`
	// Network is whether the module imports the WasmEdge socket functions
	// (it uses github.com/stealthrocket/net): the host then gives it a WASI
	// with sockets, limited to the app's AllowedOutboundHosts.
	Network bool `json:"network,omitempty"`
}

// SegmentConfig is the route segment config, read from the route file's
// exported constants at build time (const MaxDuration = 10).
type SegmentConfig struct {
	// MaxDuration is the wall-clock limit of one request, in seconds.
	MaxDuration int `json:"maxDuration,omitempty"`
	// Dynamic is Next.js's rendering hint ("auto", "force-dynamic", ...).
	Dynamic string `json:"dynamic,omitempty"`
	// Revalidate is the cache lifetime of a response in seconds.
	Revalidate int `json:"revalidate,omitempty"`
	// BodyLimit is the request body limit in bytes.
	BodyLimit int64 `json:"bodyLimit,omitempty"`
	// MemoryLimit caps each instance's linear memory, in bytes.
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
	// MaxInstances caps the route's instances, and so the requests it
	// serves at once.
	MaxInstances int `json:"maxInstances,omitempty"`
}

// Load reads and validates the manifest of the bundle in dir.
func Load(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no bundle at %s (run `wasmroute build` first)", dir)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.ABI != abi.Version {
		return nil, fmt.Errorf("%s: bundle was built for ABI version %d; this host speaks version %d (rebuild the app)", path, m.ABI, abi.Version)
	}
	if len(m.Routes) == 0 {
		return nil, fmt.Errorf("%s: the bundle has no routes", path)
	}
	for _, r := range m.Routes {
		if !validModulePath(r.Module) {
			return nil, fmt.Errorf("%s: route %s: invalid module path %q", path, r.Pattern, r.Module)
		}
	}
	if m.Middleware != nil && !validModulePath(m.Middleware.Module) {
		return nil, fmt.Errorf("%s: middleware: invalid module path %q", path, m.Middleware.Module)
	}
	return &m, nil
}

func validModulePath(p string) bool {
	return p != "" && !filepath.IsAbs(p) && !strings.Contains(p, "..")
}

// ReadModule reads a route's module from the bundle in dir and checks it
// against the manifest's SHA-256.
func ReadModule(dir string, r *Route) ([]byte, error) {
	path := filepath.Join(dir, r.Module)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", r.Pattern, err)
	}
	if sum := Sum(b); sum != r.SHA256 {
		return nil, fmt.Errorf("route %s: module %s is corrupt: sha256 %s, manifest says %s", r.Pattern, path, sum, r.SHA256)
	}
	return b, nil
}

// Sum returns the hex SHA-256 of a module, as recorded in the manifest.
func Sum(module []byte) string {
	s := sha256.Sum256(module)
	return hex.EncodeToString(s[:])
}

// Write stores m as dir's manifest. It replaces the file atomically, so a
// host reading the bundle never sees half a manifest.
func Write(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, ManifestName), append(b, '\n'))
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
