package appconfig

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
)

func TestParse(t *testing.T) {
	cfg, err := Parse(`
secrets = ["API_TOKEN"]
body_limit = "4.5MB"
allowed_outbound_hosts = ["api.example.com:443", "${UPSTREAM}", "${API_TOKEN}"]
max_duration = 20
memory_limit = "64MB"
max_instances = 6
max_url_length = "8KB"
max_header_size = 32768

[env]
APP_NAME = "example"
UPSTREAM = "http://127.0.0.1:8787"

[cors]
allowed_origins = ["https://app.example.com/", "http://localhost:5173"]
allowed_methods = ["get", "POST"]
allowed_headers = ["Content-Type", "Authorization"]
allow_credentials = true
max_age = 600

[routes."/api/upload"]
body_limit = 10485760
max_duration = 60
max_instances = 2
`)
	if err != nil {
		t.Fatal(err)
	}
	want := bundle.AppConfig{
		Env:                  map[string]string{"APP_NAME": "example", "UPSTREAM": "http://127.0.0.1:8787"},
		AllowedOutboundHosts: []string{"api.example.com:443", "${UPSTREAM}", "${API_TOKEN}"},
		MaxDuration:          20, MemoryLimit: 64 << 20, MaxInstances: 6, MaxURLLength: 8 << 10, MaxHeaderBytes: 32768,
		Secrets:   []string{"API_TOKEN"},
		BodyLimit: 4718592,
		CORS: &bundle.CORS{
			AllowedOrigins: []string{"https://app.example.com", "http://localhost:5173"},
			AllowedMethods: []string{"GET", "POST"}, AllowedHeaders: []string{"Content-Type", "Authorization"},
			AllowCredentials: true, MaxAge: 600,
		},
	}
	if !reflect.DeepEqual(cfg.App, want) {
		t.Fatalf("app config:\n got %+v\nwant %+v", cfg.App, want)
	}
	if o := cfg.Routes["/api/upload"]; o != (RouteOverride{BodyLimit: 10 << 20, MaxDuration: 60, MaxInstances: 2}) {
		t.Fatalf("route override %+v", o)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown key", "[cors]\nallowed_origin = [\"*\"]", "unknown key cors.allowed_origin"},
		{"unknown top-level key", "bodylimit = 5", "unknown key bodylimit"},
		{"bad env name", "[env]\n\"1BAD\" = \"x\"", "env.1BAD"},
		{"secret twice", `secrets = ["A", "A"]`, "secrets[1]: A is listed twice"},
		{"secret also plain", "secrets = [\"A\"]\n[env]\nA = \"x\"", "secrets[0]: A is also set in [env]"},
		{"bad size", `body_limit = "lots"`, `body_limit: "lots" is not a size`},
		{"bad unit", `body_limit = "5 parsecs"`, "body_limit"},
		{"zero size", `body_limit = 0`, "body_limit: must be positive"},
		{"size type", `body_limit = true`, "body_limit: want a size"},
		{"route size", "[routes.\"/x\"]\nbody_limit = \"x\"", `routes."/x".body_limit`},
		{"negative duration", "[routes.\"/x\"]\nmax_duration = -1", `routes."/x".max_duration`},
		{"no origins", "[cors]\nmax_age = 1", "cors.allowed_origins: list at least one"},
		{"bad origin", "[cors]\nallowed_origins = [\"example.com\"]", "cors.allowed_origins[0]"},
		{"origin with path", "[cors]\nallowed_origins = [\"https://a.com/x\"]", "cors.allowed_origins[0]"},
		{"star with credentials", "[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true", "cannot be combined"},
		{"bad method", "[cors]\nallowed_origins = [\"*\"]\nallowed_methods = [\"FETCH\"]", "cors.allowed_methods[0]"},
		{"toml syntax", "[cors", "toml"},
		{"negative app duration", "max_duration = -5", "max_duration: must be"},
		{"tiny memory", `memory_limit = "10KB"`, "memory_limit: must be between"},
		{"route memory", "[routes.\"/x\"]\nmemory_limit = \"lots\"", `routes."/x".memory_limit`},
		{"route memory is app-wide", "[routes.\"/x\"]\nmemory_limit = \"64MB\"", `routes."/x".memory_limit: memory is app-wide`},
		{"negative instances", "[routes.\"/x\"]\nmax_instances = -1", `routes."/x".max_instances`},
		{"bad url length", `max_url_length = "long"`, "max_url_length"},
		{"bad header size", `max_header_size = 0`, "max_header_size: must be positive"},
		{"outbound without port", `allowed_outbound_hosts = ["example.com"]`, "allowed_outbound_hosts[0]"},
		{"outbound bad host", `allowed_outbound_hosts = ["a:1", "bad host:1"]`, "allowed_outbound_hosts[1]"},
		{"outbound unknown variable", `allowed_outbound_hosts = ["${NOPE}"]`, "allowed_outbound_hosts[0]: NOPE is neither"},
		{"bad isolation", `isolation = "thread"`, `isolation: "thread" is neither "pool" nor "request"`},
		{"bad route isolation", "[routes.\"/x\"]\nisolation = \"none\"", `routes."/x".isolation`},
		{"health not a path", `health = "api/health"`, `health: "api/health" is not a path`},
		{"health with a query", `health = "/api/health?deep=1"`, `health: "/api/health?deep=1" is not a path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		in   any
		want int64
	}{
		{int64(1000), 1000}, {"1000", 1000}, {"512KB", 512 << 10}, {"4.5MB", 4718592}, {"1 GiB", 1 << 30}, {"10mb", 10 << 20},
	}
	for _, tt := range tests {
		if got, err := size("k", tt.in); err != nil || got != tt.want {
			t.Errorf("size(%v) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestApply(t *testing.T) {
	m := &bundle.Manifest{Routes: []bundle.Route{{Pattern: "/a", Config: bundle.SegmentConfig{BodyLimit: 5, MaxDuration: 3}}, {Pattern: "/b"}}}
	cfg := &Config{App: bundle.AppConfig{Secrets: []string{"S"}}, Routes: map[string]RouteOverride{"/a": {BodyLimit: 100}}}
	if err := cfg.Apply(m); err != nil {
		t.Fatal(err)
	}
	if m.Routes[0].Config.BodyLimit != 100 || m.Routes[0].Config.MaxDuration != 3 || m.App.Secrets[0] != "S" {
		t.Fatalf("applied: %+v", m)
	}
	cfg.Routes["/b"] = RouteOverride{Isolation: bundle.IsolationRequest}
	if err := cfg.Apply(m); err != nil || m.Routes[1].Config.Isolation != bundle.IsolationRequest {
		t.Fatalf("route isolation: %+v %v", m.Routes[1].Config, err)
	}
	if c, err := Parse(`isolation = "request"`); err != nil || c.App.Isolation != bundle.IsolationRequest {
		t.Fatalf("app isolation: %+v %v", c, err)
	}
	for _, tt := range []struct{ health, want string }{
		{"/a", ""}, {"/c", "health: no route serves /c"},
	} {
		c := &Config{App: bundle.AppConfig{Health: tt.health}}
		if err := c.CheckRoutes([]string{"/a", "/b/[id]"}); (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("health %s: %v, want %q", tt.health, err, tt.want)
		}
	}
	cfg.Routes["/missing"] = RouteOverride{BodyLimit: 1}
	if err := cfg.Apply(m); err == nil || !strings.Contains(err.Error(), `routes."/missing": no such route`) {
		t.Fatalf("unknown route: %v", err)
	}
}

func TestKnownKeysAreTheDecodedOnes(t *testing.T) {
	keys := strings.Join(KnownKeys(), " ")
	for _, want := range []string{"env.NAME", "secrets", "body_limit", "allowed_outbound_hosts", "max_duration", "memory_limit",
		"max_instances", "isolation", "max_url_length", "max_header_size", "cors.allowed_origins", "cors.max_age",
		`routes."PATTERN".body_limit`, `routes."PATTERN".max_instances`, `routes."PATTERN".isolation`} {
		if !strings.Contains(" "+keys+" ", " "+want+" ") {
			t.Errorf("KnownKeys lacks %s: %s", want, keys)
		}
	}
	_, err := Parse("max_durations = 3")
	if err == nil || !strings.Contains(err.Error(), "unknown key max_durations (known: ") || !strings.Contains(err.Error(), "max_duration,") {
		t.Errorf("unknown key error: %v", err)
	}
}
