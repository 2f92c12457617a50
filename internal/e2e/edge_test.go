package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/edge"
)

const adminToken = "test-admin-token"

// edgeHost is an edge.Server with its public and admin listeners.
type edgeHost struct {
	srv           *edge.Server
	public, admin *httptest.Server
	logs          *logBuffer
}

func openEdge(t *testing.T, data string, edit ...func(*edge.Options)) *edgeHost {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	opts := edge.Options{Logger: logger, Engine: host.EngineOptions{CacheDir: cacheDir},
		App: func(string) host.Options { return host.Options{Logger: logger, LookupSecret: testSecrets} }}
	for _, f := range edit {
		f(&opts)
	}
	srv, err := edge.Open(data, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &edgeHost{srv: srv, public: httptest.NewServer(srv), admin: httptest.NewServer(edge.NewAdmin(srv, adminToken)), logs: logs}
	t.Cleanup(func() { e.close(t) })
	return e
}

func (e *edgeHost) close(t *testing.T) {
	if e.public == nil {
		return
	}
	e.public.Close()
	e.admin.Close()
	e.srv.Close(context.Background())
	e.public = nil
	if t.Failed() {
		t.Logf("edge log:\n%s", e.logs)
	}
}

// call sends an admin request and returns the status and body.
func (e *edgeHost) call(t *testing.T, method, path, token string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.admin.URL+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get sends GET path to the public listener for host.
func (e *edgeHost) get(t *testing.T, hostName, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.public.URL+path, nil)
	req.Host = hostName
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deploy uploads the modules of the bundle in bundleDir that the host
// lacks, then deploys its current manifest, and returns the version.
func (e *edgeHost) deploy(t *testing.T, app, bundleDir string, edit func(*bundle.Manifest), domains ...string) (int, string) {
	t.Helper()
	m, err := bundle.Load(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range m.Modules {
		if status, _ := e.call(t, "HEAD", "/v1/modules/"+mod.SHA256, adminToken, nil); status == 200 {
			continue
		}
		f, err := os.Open(filepath.Join(bundleDir, mod.File))
		if err != nil {
			t.Fatal(err)
		}
		status, body := e.call(t, "PUT", "/v1/modules/"+mod.SHA256, adminToken, f)
		f.Close()
		if status != 204 {
			t.Fatalf("upload %s: %d %s", mod.SHA256, status, body)
		}
	}
	if edit != nil {
		edit(m)
	}
	m.Format = bundle.Format
	manifest, _ := json.Marshal(m)
	req, _ := json.Marshal(map[string]any{"manifest": json.RawMessage(manifest), "domains": domains})
	return e.call(t, "POST", "/v1/apps/"+app+"/deploy", adminToken, strings.NewReader(string(req)))
}

// TestEdgeHost deploys two apps to an edge host through its admin API and
// serves them by Host header; deploys again and rolls back; refuses bad
// tokens and bad uploads; and keeps everything across a restart.
func TestEdgeHost(t *testing.T) {
	data := t.TempDir()
	e := openEdge(t, data)
	plain, faulty := filepath.Join(plainDir, bundle.DirName), filepath.Join(faultyDir, bundle.DirName)

	// Auth: no token, a wrong one.
	for _, token := range []string{"", "wrong"} {
		if status, _ := e.call(t, "GET", "/v1/apps", token, nil); status != 401 {
			t.Fatalf("token %q: %d, want 401", token, status)
		}
	}
	if strings.Contains(e.logs.String(), "wrong") {
		t.Fatal("a token reached the log")
	}
	if status, _ := e.call(t, "GET", "/healthz", "", nil); status != 200 {
		t.Fatalf("healthz: %d", status)
	}

	status, body := e.deploy(t, "plain", plain, nil, "plain.example.com")
	if status != 200 || !strings.Contains(body, `"version"`) {
		t.Fatalf("deploy plain: %d %s", status, body)
	}
	var first struct{ Version string }
	json.Unmarshal([]byte(body), &first)
	if status, body := e.deploy(t, "faulty", faulty, nil, "*.faulty.test"); status != 200 {
		t.Fatalf("deploy faulty: %d %s", status, body)
	}
	for _, tt := range []struct{ host, path, want string }{
		{"plain.example.com", "/api/ok", "ok"},
		{"plain.example.com:8080", "/api/ok", "ok"},
		{"a.faulty.test", "/api/env", "FOO=bar"},
	} {
		if status, body := e.get(t, tt.host, tt.path); status != 200 || !strings.Contains(body, tt.want) {
			t.Errorf("%s%s: %d %q", tt.host, tt.path, status, body)
		}
	}
	if status, body := e.get(t, "nobody.example.com", "/api/ok"); status != 404 || body != `{"error":"Unknown host"}` {
		t.Errorf("unknown host: %d %s", status, body)
	}

	// Bad uploads change nothing.
	bad := []struct {
		name   string
		status int
		do     func() (int, string)
	}{
		{"digest mismatch", 400, func() (int, string) {
			return e.call(t, "PUT", "/v1/modules/"+strings.Repeat("a", 64), adminToken, strings.NewReader("\x00asm\x01\x00\x00\x00"))
		}},
		{"not a digest", 400, func() (int, string) {
			return e.call(t, "PUT", "/v1/modules/..%2F..%2Fetc", adminToken, strings.NewReader("x"))
		}},
		{"a module not uploaded", 400, func() (int, string) {
			return e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.Modules[0].SHA256 = strings.Repeat("b", 64) })
		}},
		{"another ABI", 400, func() (int, string) { return e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.ABI = 99 }) }},
		{"a bad app name", 400, func() (int, string) { return e.deploy(t, "../evil", plain, nil) }},
	}
	for _, b := range bad {
		if status, body := b.do(); status < 400 || status >= 500 || (b.status != 0 && status != b.status && status != 404) {
			t.Errorf("%s: %d %s", b.name, status, body)
		}
	}
	if status, _ := e.get(t, "plain.example.com", "/api/ok"); status != 200 {
		t.Fatal("a bad upload stopped the app")
	}

	// A second version, then back.
	status, body = e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.App.MaxURLLength = 2000 })
	if status != 200 || strings.Contains(body, first.Version) {
		t.Fatalf("second deploy: %d %s", status, body)
	}
	if status, body := e.call(t, "POST", "/v1/apps/plain/rollback", adminToken, nil); status != 200 || !strings.Contains(body, first.Version) {
		t.Fatalf("rollback: %d %s, want %s", status, body, first.Version)
	}
	if status, _ := e.get(t, "plain.example.com", "/api/ok"); status != 200 {
		t.Fatal("after the rollback")
	}

	// Metrics, per app and route, without a token.
	status, metrics := e.call(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`wasmroute_requests_total{app="plain",class="2xx",route="/api/ok"}`,
		`wasmroute_request_duration_seconds_count{app="plain",route="/api/ok"}`,
		`wasmroute_requests_in_flight{app="plain"} 0`,
		`wasmroute_instances{app="plain",state="idle"}`,
		`wasmroute_instance_start_seconds_count{kind="clone"}`,
		`wasmroute_compile_seconds_count`,
		`wasmroute_deploys_total{app="plain",result="ok"} 2`,
		`wasmroute_deploys_total{app="plain",result="failed"}`,
		`wasmroute_rollbacks_total{app="plain",result="ok"} 1`,
	} {
		if status != 200 || !strings.Contains(metrics, want) {
			t.Errorf("metrics (%d) lack %s", status, want)
		}
	}

	// A restart serves what was current.
	e.close(t)
	e = openEdge(t, data)
	if status, body := e.get(t, "plain.example.com", "/api/ok"); status != 200 || body != "ok" {
		t.Fatalf("after a restart: %d %q", status, body)
	}
	_, list := e.call(t, "GET", "/v1/apps", adminToken, nil)
	if !strings.Contains(list, `"name":"faulty"`) || !strings.Contains(list, `"version":"`+first.Version+`"`) {
		t.Fatalf("apps after a restart: %s", list)
	}
	if status, _ := e.call(t, "DELETE", "/v1/apps/faulty", adminToken, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := e.get(t, "a.faulty.test", "/api/ok"); status != 404 {
		t.Fatalf("a deleted app answered %d", status)
	}
}

// TestEdgeKeepsTheLastVersions: after more deploys than KeepVersions, the
// host keeps that many, the current one among them.
func TestEdgeKeepsTheLastVersions(t *testing.T) {
	const keep = 3
	e := openEdge(t, t.TempDir(), func(o *edge.Options) { o.KeepVersions = keep })
	plain := filepath.Join(plainDir, bundle.DirName)
	var last string
	for i := range keep + 2 {
		status, body := e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.App.MaxURLLength = int64(1000 + i) }, "plain.example.com")
		if status != 200 {
			t.Fatalf("deploy %d: %d %s", i, status, body)
		}
		last = body
	}
	var apps []edge.AppInfo
	_, list := e.call(t, "GET", "/v1/apps", adminToken, nil)
	if err := json.Unmarshal([]byte(list), &apps); err != nil || len(apps) != 1 {
		t.Fatalf("apps: %s %v", list, err)
	}
	if len(apps[0].Versions) != keep || !strings.Contains(last, apps[0].Version) || apps[0].Versions[0] != apps[0].Version {
		t.Fatalf("kept %d versions (%v), current %s; last deploy said %s", len(apps[0].Versions), apps[0].Versions, apps[0].Version, last)
	}
}

// TestEdgeTokens: tokens made through the API are scoped to their apps,
// kept hashed across a restart, and can be taken back.
func TestEdgeTokens(t *testing.T) {
	data := t.TempDir()
	e := openEdge(t, data)
	plain, faulty := filepath.Join(plainDir, bundle.DirName), filepath.Join(faultyDir, bundle.DirName)
	for app, dir := range map[string]string{"plain": plain, "faulty": faulty} {
		if status, body := e.deploy(t, app, dir, nil, app+".test"); status != 200 {
			t.Fatalf("deploy %s: %d %s", app, status, body)
		}
	}
	status, body := e.call(t, "POST", "/v1/tokens", adminToken, strings.NewReader(`{"name": "ci", "apps": ["plain"]}`))
	var made struct{ Token string }
	if json.Unmarshal([]byte(body), &made); status != 201 || !strings.HasPrefix(made.Token, "wr_") {
		t.Fatalf("make a token: %d %s", status, body)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "tokens.json")); strings.Contains(string(b), made.Token) {
		t.Fatal("the token is stored in the clear")
	}
	steps := []struct {
		name, method, path string
		status             int
	}{
		{"its app", "POST", "/v1/apps/plain/rollback", 400}, // allowed: no earlier version
		{"another app", "POST", "/v1/apps/faulty/rollback", 403},
		{"delete another app", "DELETE", "/v1/apps/faulty", 403},
		{"make a token", "POST", "/v1/tokens", 403},
	}
	for _, s := range steps {
		if status, body := e.call(t, s.method, s.path, made.Token, strings.NewReader(`{}`)); status != s.status {
			t.Errorf("%s: %d %s, want %d", s.name, status, body, s.status)
		}
	}
	if _, list := e.call(t, "GET", "/v1/apps", made.Token, nil); !strings.Contains(list, `"plain"`) || strings.Contains(list, `"faulty"`) {
		t.Errorf("a scoped token sees: %s", list)
	}
	if !strings.Contains(e.logs.String(), "token=ci") {
		t.Error("actions are not logged with the token's name")
	}
	// Across a restart, then taken back.
	e.close(t)
	e = openEdge(t, data)
	if status, _ := e.call(t, "GET", "/v1/apps", made.Token, nil); status != 200 {
		t.Fatalf("after a restart the token gets %d", status)
	}
	if status, _ := e.call(t, "DELETE", "/v1/tokens/ci", adminToken, nil); status != 204 {
		t.Fatalf("delete the token: %d", status)
	}
	if status, _ := e.call(t, "GET", "/v1/apps", made.Token, nil); status != 401 {
		t.Fatalf("a deleted token gets %d", status)
	}
}
