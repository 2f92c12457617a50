// Package appconfig reads an app's wasmroute.toml: environment variables,
// secret names, the request body limit, CORS, and per-route overrides.
// Errors name the key they are about.
package appconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host/outbound"
	"github.com/wasmroute/wasmroute/host/router"
)

// FileName is the config file in the app directory.
const FileName = "wasmroute.toml"

// Config is a parsed wasmroute.toml.
type Config struct {
	// App is what the host applies to every route.
	App bundle.AppConfig
	// Routes holds per-route overrides by URL pattern ("/api/upload").
	Routes map[string]RouteOverride
}

// RouteOverride is a [routes."PATTERN"] table.
type RouteOverride struct {
	BodyLimit    int64
	MaxDuration  int
	MaxInstances int
	Isolation    string
}

// file mirrors the TOML layout.
type file struct {
	Env       map[string]string        `toml:"env"`
	Secrets   []string                 `toml:"secrets"`
	BodyLimit any                      `toml:"body_limit"`
	CORS      *corsTable               `toml:"cors"`
	Routes    map[string]routeOverride `toml:"routes"`
	Outbound  []string                 `toml:"allowed_outbound_hosts"`
	Health    string                   `toml:"health"`
	limitKeys
	MaxURLLength  any `toml:"max_url_length"`
	MaxHeaderSize any `toml:"max_header_size"`
}

// limitKeys are the limits an app sets for all its routes and a route for
// itself.
type limitKeys struct {
	MaxDuration  int    `toml:"max_duration"`
	MemoryLimit  any    `toml:"memory_limit"`
	MaxInstances int    `toml:"max_instances"`
	Isolation    string `toml:"isolation"`
}

// isolation checks the isolation key; key prefixes the name in errors.
func (l limitKeys) isolation(key string) (string, error) {
	switch l.Isolation {
	case "", bundle.IsolationPool, bundle.IsolationRequest:
		return l.Isolation, nil
	}
	return "", fmt.Errorf("%sisolation: %q is neither %q nor %q", key, l.Isolation, bundle.IsolationPool, bundle.IsolationRequest)
}

// parsed checks the limits; key prefixes the names in errors.
func (l limitKeys) parsed(key string) (maxDuration int, memory int64, instances int, err error) {
	if l.MaxDuration < 0 {
		return 0, 0, 0, fmt.Errorf("%smax_duration: must be a non-negative number of seconds", key)
	}
	if l.MaxInstances < 0 {
		return 0, 0, 0, fmt.Errorf("%smax_instances: must be a non-negative number", key)
	}
	if memory, err = size(key+"memory_limit", l.MemoryLimit); err != nil {
		return 0, 0, 0, err
	}
	if memory != 0 && (memory < 1<<20 || memory > 4<<30) {
		return 0, 0, 0, fmt.Errorf("%smemory_limit: must be between 1MB and 4GB", key)
	}
	return l.MaxDuration, memory, l.MaxInstances, nil
}

type corsTable struct {
	AllowedOrigins   []string `toml:"allowed_origins"`
	AllowedMethods   []string `toml:"allowed_methods"`
	AllowedHeaders   []string `toml:"allowed_headers"`
	ExposedHeaders   []string `toml:"exposed_headers"`
	AllowCredentials bool     `toml:"allow_credentials"`
	MaxAge           int      `toml:"max_age"`
}

type routeOverride struct {
	BodyLimit any `toml:"body_limit"`
	limitKeys
}

// Load reads dir/wasmroute.toml. A missing file is an empty config.
func Load(dir string) (*Config, error) {
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var methodNames = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

// Parse parses the text of a wasmroute.toml.
func Parse(text string) (*Config, error) {
	var f file
	md, err := toml.Decode(text, &f)
	if err != nil {
		return nil, err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("unknown key %s (known: %s)", strings.Join(keys, ", "), strings.Join(KnownKeys(), ", "))
	}
	cfg := &Config{App: bundle.AppConfig{Env: f.Env, Secrets: f.Secrets}, Routes: map[string]RouteOverride{}}
	for name := range f.Env {
		if !envName.MatchString(name) {
			return nil, fmt.Errorf("env.%s: not a valid environment variable name", name)
		}
	}
	seen := map[string]bool{}
	for i, name := range f.Secrets {
		switch {
		case !envName.MatchString(name):
			return nil, fmt.Errorf("secrets[%d]: %q is not a valid environment variable name", i, name)
		case seen[name]:
			return nil, fmt.Errorf("secrets[%d]: %s is listed twice", i, name)
		case f.Env[name] != "":
			return nil, fmt.Errorf("secrets[%d]: %s is also set in [env]; a value is either plain or secret", i, name)
		}
		seen[name] = true
	}
	for i, entry := range f.Outbound {
		if name, ok := strings.CutPrefix(entry, "${"); ok && strings.HasSuffix(name, "}") {
			name = strings.TrimSuffix(name, "}")
			if _, inEnv := f.Env[name]; !inEnv && !seen[name] {
				return nil, fmt.Errorf("allowed_outbound_hosts[%d]: %s is neither in [env] nor in secrets", i, name)
			}
			continue
		}
		if _, err := outbound.Parse(entry); err != nil {
			return nil, fmt.Errorf("allowed_outbound_hosts[%d]: %w", i, err)
		}
	}
	cfg.App.AllowedOutboundHosts = f.Outbound
	if f.Health != "" && (!strings.HasPrefix(f.Health, "/") || strings.ContainsAny(f.Health, "?# ")) {
		return nil, fmt.Errorf("health: %q is not a path, such as \"/api/health\"", f.Health)
	}
	cfg.App.Health = f.Health
	if cfg.App.BodyLimit, err = size("body_limit", f.BodyLimit); err != nil {
		return nil, err
	}
	if f.CORS != nil {
		if cfg.App.CORS, err = corsConfig(f.CORS); err != nil {
			return nil, err
		}
	}
	app := &cfg.App
	if app.MaxDuration, app.MemoryLimit, app.MaxInstances, err = f.limitKeys.parsed(""); err != nil {
		return nil, err
	}
	if app.Isolation, err = f.limitKeys.isolation(""); err != nil {
		return nil, err
	}
	if app.MaxURLLength, err = size("max_url_length", f.MaxURLLength); err != nil {
		return nil, err
	}
	if app.MaxHeaderBytes, err = size("max_header_size", f.MaxHeaderSize); err != nil {
		return nil, err
	}
	for pattern, o := range f.Routes {
		key := fmt.Sprintf("routes.%q", pattern)
		limit, err := size(key+".body_limit", o.BodyLimit)
		if err != nil {
			return nil, err
		}
		ro := RouteOverride{BodyLimit: limit}
		var memory int64
		if ro.MaxDuration, memory, ro.MaxInstances, err = o.limitKeys.parsed(key + "."); err != nil {
			return nil, err
		}
		if memory != 0 {
			// Every route runs in the app's one module, so one instance
			// serves many routes: a limit for one route could not be kept.
			return nil, fmt.Errorf("%s.memory_limit: memory is app-wide (all routes share the app's module and its instances); set memory_limit at the top level", key)
		}
		if ro.Isolation, err = o.limitKeys.isolation(key + "."); err != nil {
			return nil, err
		}
		cfg.Routes[pattern] = ro
	}
	return cfg, nil
}

func corsConfig(c *corsTable) (*bundle.CORS, error) {
	if len(c.AllowedOrigins) == 0 {
		return nil, errors.New("cors.allowed_origins: list at least one origin, or \"*\"")
	}
	for i, o := range c.AllowedOrigins {
		if o == "*" {
			if c.AllowCredentials {
				return nil, errors.New(`cors.allowed_origins: "*" cannot be combined with allow_credentials = true; list the origins`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("cors.allowed_origins[%d]: %q is not an origin like https://app.example.com", i, o)
		}
		c.AllowedOrigins[i] = u.Scheme + "://" + u.Host
	}
	for i, m := range c.AllowedMethods {
		if !methodNames[strings.ToUpper(m)] {
			return nil, fmt.Errorf("cors.allowed_methods[%d]: unknown method %q", i, m)
		}
		c.AllowedMethods[i] = strings.ToUpper(m)
	}
	if c.MaxAge < 0 {
		return nil, errors.New("cors.max_age: must be a non-negative number of seconds")
	}
	return &bundle.CORS{
		AllowedOrigins: c.AllowedOrigins, AllowedMethods: c.AllowedMethods, AllowedHeaders: c.AllowedHeaders,
		ExposedHeaders: c.ExposedHeaders, AllowCredentials: c.AllowCredentials, MaxAge: c.MaxAge,
	}, nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1 << 10, "kib": 1 << 10,
	"mb": 1 << 20, "mib": 1 << 20,
	"gb": 1 << 30, "gib": 1 << 30,
}

var sizeText = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$`)

// size reads a byte count: an integer, or a string such as "4.5MB". KB and
// MB mean 1024 and 1024², as the edge platforms' limits do.
func size(key string, v any) (int64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case int64:
		if v <= 0 {
			return 0, fmt.Errorf("%s: must be positive", key)
		}
		return v, nil
	case string:
		bad := fmt.Errorf("%s: %q is not a size like \"4.5MB\" or 1048576", key, v)
		m := sizeText.FindStringSubmatch(v)
		if m == nil {
			return 0, bad
		}
		unit, ok := sizeUnits[strings.ToLower(m[2])]
		if !ok {
			return 0, bad
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		if n*unit < 1 || n*unit > 1<<40 {
			return 0, fmt.Errorf("%s: %q is out of range", key, v)
		}
		return int64(n * unit), nil
	default:
		return 0, fmt.Errorf("%s: want a size like \"4.5MB\" or a number of bytes, not %T", key, v)
	}
}

// ParseSize reads a size such as "64MB" or "1048576", as wasmroute.toml's
// size keys take it.
func ParseSize(s string) (int64, error) { return size("size", s) }

// CheckRoutes reports an override for a pattern the app does not have,
// naming it. Build calls it before compiling anything.
func (c *Config) CheckRoutes(patterns []string) error {
	known := map[string]bool{}
	for _, p := range patterns {
		known[p] = true
	}
	keys := make([]string, 0, len(c.Routes))
	for p := range c.Routes {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if !known[p] {
			return fmt.Errorf("%s: routes.%q: no such route (patterns are written as folders are named, such as \"/api/users/[id]\")", FileName, p)
		}
	}
	if c.App.Health != "" {
		t, err := router.New(patterns)
		if err != nil {
			return err
		}
		if _, _, ok := t.Match(c.App.Health, nil); !ok {
			return fmt.Errorf("%s: health: no route serves %s", FileName, c.App.Health)
		}
	}
	return nil
}

// Apply writes the config into a manifest: the app-wide part, and the route
// overrides merged over each route's own segment config (the file wins over
// the route's constants, so deployment settings need no code change).
func (c *Config) Apply(m *bundle.Manifest) error {
	patterns := make([]string, len(m.Routes))
	for i, r := range m.Routes {
		patterns[i] = r.Pattern
	}
	if err := c.CheckRoutes(patterns); err != nil {
		return err
	}
	m.App = c.App
	for i := range m.Routes {
		o, ok := c.Routes[m.Routes[i].Pattern]
		if !ok {
			continue
		}
		if o.BodyLimit > 0 {
			m.Routes[i].Config.BodyLimit = o.BodyLimit
		}
		if o.MaxDuration > 0 {
			m.Routes[i].Config.MaxDuration = o.MaxDuration
		}
		if o.MaxInstances > 0 {
			m.Routes[i].Config.MaxInstances = o.MaxInstances
		}
		if o.Isolation != "" {
			m.Routes[i].Config.Isolation = o.Isolation
		}
	}
	return nil
}

// KnownKeys lists the keys wasmroute.toml may hold, read from the types
// that decode it, so the list is never out of date.
func KnownKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(prefix, f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct:
				walk(prefix+name+".", ft)
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(prefix+name+`."PATTERN".`, ft.Elem())
			case ft.Kind() == reflect.Map:
				keys = append(keys, prefix+name+".NAME")
			default:
				keys = append(keys, prefix+name)
			}
		}
	}
	walk("", reflect.TypeFor[file]())
	return keys
}
