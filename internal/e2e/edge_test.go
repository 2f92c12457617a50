package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/cache"
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
	m.Format = bundle.Format
	if edit != nil {
		edit(m)
	}
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
	disk := listing(t, filepath.Join(data, "apps"))
	sha := strings.Repeat("c", 64)
	garbage := []byte("\x00asm\x01\x00\x00\x00 and then not a module")
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
		{"a manifest format from the future", 400, func() (int, string) {
			return e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.Format = bundle.Format + 1 })
		}},
		{"a module that does not compile", 400, func() (int, string) {
			if status, body := e.call(t, "PUT", "/v1/modules/"+bundle.Sum(garbage), adminToken, bytes.NewReader(garbage)); status != 204 {
				return status, body
			}
			return e.deploy(t, "plain", plain, func(m *bundle.Manifest) {
				m.Modules[0] = bundle.Module{File: bundle.ModulePath(bundle.Sum(garbage)), SHA256: bundle.Sum(garbage), Size: int64(len(garbage))}
			})
		}},
		{"a version whose health route fails", 400, func() (int, string) {
			status, body := e.deploy(t, "faulty", faulty, func(m *bundle.Manifest) { m.App.Health = "/api/panic" })
			if !strings.Contains(body, "not healthy: GET /api/panic answered 500") {
				t.Errorf("a failed health check: %s", body)
			}
			return status, body
		}},
		{"a first deploy that does not start", 400, func() (int, string) {
			return e.deploy(t, "newapp", plain, func(m *bundle.Manifest) {
				m.Modules[0] = bundle.Module{File: bundle.ModulePath(bundle.Sum(garbage)), SHA256: bundle.Sum(garbage), Size: int64(len(garbage))}
			})
		}},
		{"an upload over the limit", 413, func() (int, string) {
			return rawCall(t, e.admin.URL, "PUT /v1/modules/"+sha+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+
				"\r\nContent-Length: "+strconv.Itoa(bundle.MaxModuleBytes+1)+"\r\n\r\n\x00asm")
		}},
		{"a truncated upload", 400, func() (int, string) {
			return rawCall(t, e.admin.URL, "PUT /v1/modules/"+sha+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+adminToken+
				"\r\nContent-Length: 1000\r\n\r\n\x00asm\x01\x00\x00\x00")
		}},
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
	if now := listing(t, filepath.Join(data, "apps")); now != disk {
		t.Errorf("bad uploads changed the apps on disk:\nbefore:\n%s\nafter:\n%s", disk, now)
	}
	if e.srv.HasModule(sha) {
		t.Error("a refused upload was stored")
	}

	// A second version, then back.
	status, body = e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.App.MaxURLLength = 2000; m.App.Health = "/api/ok" })
	if status != 200 || strings.Contains(body, first.Version) || !strings.Contains(body, `"name":"health"`) {
		t.Fatalf("second deploy, with a health route: %d %s", status, body)
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

// listing lists the files under dir with their sizes, for comparing
// before and after; the apps' KV stores are left out, as they change as
// apps serve.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() == "kv.db" {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %d\n", rel, info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// rawCall sends a request as raw bytes, half-closes the connection, and
// returns the answer's status and body: for requests a client would not
// send, such as a body shorter than its Content-Length.
func rawCall(t *testing.T, url, request string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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

// TestEdgeConcurrentDeploys sends deploys of one app at once, each with
// its own version and domain: they queue, all succeed, and the version
// that ends current serves its own domain and no other, so no two
// interleaved.
func TestEdgeConcurrentDeploys(t *testing.T) {
	e := openEdge(t, t.TempDir())
	plain := filepath.Join(plainDir, bundle.DirName)
	const n = 4
	versions := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			status, body := e.deploy(t, "plain", plain, func(m *bundle.Manifest) { m.App.MaxURLLength = int64(3000 + i) }, fmt.Sprintf("d%d.test", i))
			var res struct{ Version string }
			json.Unmarshal([]byte(body), &res)
			versions[i] = res.Version
			if status != 200 {
				errs <- fmt.Errorf("deploy %d: %d %s", i, status, body)
				return
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var apps []edge.AppInfo
	_, list := e.call(t, "GET", "/v1/apps", adminToken, nil)
	if err := json.Unmarshal([]byte(list), &apps); err != nil || len(apps) != 1 {
		t.Fatalf("apps: %s %v", list, err)
	}
	current := slices.Index(versions, apps[0].Version)
	if current < 0 || !slices.Equal(apps[0].Domains, []string{fmt.Sprintf("d%d.test", current)}) {
		t.Fatalf("current %s with domains %v; the deploys made %v", apps[0].Version, apps[0].Domains, versions)
	}
	for i := range n {
		want := 404
		if i == current {
			want = 200
		}
		if status, _ := e.get(t, fmt.Sprintf("d%d.test", i), "/api/ok"); status != want {
			t.Errorf("d%d.test: %d, want %d", i, status, want)
		}
	}
}

// TestEdgeRevalidate revalidates an app's cached responses through the
// admin API, by path and by tag, and refuses bad tags.
func TestEdgeRevalidate(t *testing.T) {
	e := openEdge(t, t.TempDir(), func(o *edge.Options) { o.Engine.Cache = cache.NewMemory(0) })
	if status, body := e.deploy(t, "plain", filepath.Join(plainDir, bundle.DirName), nil, "plain.test"); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	state := func() string {
		req, _ := http.NewRequest("GET", e.public.URL+"/api/cache/timed", nil)
		req.Host = "plain.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Wasmroute-Cache")
	}
	for _, tt := range []struct {
		body   string
		status int
		then   string // the cache state of the next GET
	}{
		{"", 0, "MISS"},
		{"", 0, "HIT"},
		{`{"paths": ["/api/cache/timed"]}`, 204, "STALE"},
		{`{"tags": ["posts"], "expire": true}`, 204, "MISS"},
		{`{"tags": [""]}`, 400, "HIT"},
		{`{}`, 400, "HIT"},
	} {
		if tt.body != "" {
			if status, body := e.call(t, "POST", "/v1/apps/plain/revalidate", adminToken, strings.NewReader(tt.body)); status != tt.status {
				t.Fatalf("revalidate %s: %d %s", tt.body, status, body)
			}
		}
		if got := state(); got != tt.then {
			t.Fatalf("after %q: %s, want %s", tt.body, got, tt.then)
		}
	}
	if status, _ := e.call(t, "POST", "/v1/apps/nope/revalidate", adminToken, strings.NewReader(`{"tags":["x"]}`)); status != 400 {
		t.Errorf("an unknown app: %d", status)
	}
	_, metrics := e.call(t, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`wasmroute_cache_requests_total{app="plain",route="/api/cache/timed",state="MISS"} 2`,
		`wasmroute_cache_requests_total{app="plain",route="/api/cache/timed",state="HIT"} 3`,
		`wasmroute_cache_requests_total{app="plain",route="/api/cache/timed",state="STALE"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Deleted and deployed again, the same version starts with an empty
	// cache.
	if status, _ := e.call(t, "DELETE", "/v1/apps/plain", adminToken, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, body := e.deploy(t, "plain", filepath.Join(plainDir, bundle.DirName), nil, "plain.test"); status != 200 {
		t.Fatalf("deploy again: %d %s", status, body)
	}
	if got := state(); got != "MISS" {
		t.Errorf("after a delete and the same deploy: %s, want MISS", got)
	}
}

// TestEdgeDeployStreamsSteps asks for the deploy's steps as NDJSON: one
// line as each starts, then the result; a deploy that fails ends with the
// error and its status.
func TestEdgeDeployStreamsSteps(t *testing.T) {
	e := openEdge(t, t.TempDir())
	plain := filepath.Join(plainDir, bundle.DirName)
	if status, body := e.deploy(t, "plain", plain, nil, "plain.test"); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	m, _ := bundle.Load(plain)
	for _, tt := range []struct {
		name string
		edit func(*bundle.Manifest)
		want []string // the lines, by a key each has
	}{
		{"a deploy", func(m *bundle.Manifest) { m.App.MaxURLLength = 1234 }, []string{`{"step":"check"}`, `{"step":"compile"}`, `{"step":"start"}`, `{"step":"switch"}`, `"version":`}},
		{"with a health route", func(m *bundle.Manifest) { m.App.Health = "/api/ok" }, []string{`{"step":"check"}`, `{"step":"compile"}`, `{"step":"start"}`, `{"step":"health"}`, `{"step":"switch"}`, `"version":`}},
		{"a failed one", func(m *bundle.Manifest) { m.App.Health = "/api/nope" }, []string{`{"step":"check"}`, `{"step":"compile"}`, `{"step":"start"}`, `{"step":"health"}`, `"status":400`}},
	} {
		edited := *m
		edited.Format = bundle.Format
		tt.edit(&edited)
		manifest, _ := json.Marshal(edited)
		body, _ := json.Marshal(map[string]any{"manifest": json.RawMessage(manifest)})
		req, _ := http.NewRequest("POST", e.admin.URL+"/v1/apps/plain/deploy", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Accept", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if resp.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != len(tt.want) {
			t.Fatalf("%s: %s\n%s", tt.name, resp.Header.Get("Content-Type"), out)
		}
		for i, want := range tt.want {
			if !strings.Contains(lines[i], want) {
				t.Errorf("%s: line %d is %s, want %s", tt.name, i, lines[i], want)
			}
		}
	}
}
