package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstApp follows README's "Your first app": init, build, start,
// curl each kind of route, and test the scaffold, route folders included.
func TestFirstApp(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "myapp")
	ctx := context.Background()
	out, err := run(t, ctx, "init", dir, "--replace", repo)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for _, want := range []string{"created " + filepath.Join(dir, "app/api/users/[id]/route.go"), "wasmroute dev"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	if out, err := run(t, ctx, "init", dir); err == nil || !strings.Contains(err.Error(), "already has go.mod") {
		t.Fatalf("a second init: %v\n%s", err, out)
	}
	if out, err := run(t, ctx, "build", dir); err != nil || !strings.Contains(out, "Built 5 routes") {
		t.Fatalf("build: %v\n%s", err, out)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	urls, done := background(t, sctx, []string{"start", dir, "--addr", "127.0.0.1:0", "--log-level", "error", "--kv-memory"}, "Listening on ")
	url := urls[0]
	tests := []struct{ method, path, body, want string }{
		{"GET", "/api/hello", "", `{"message":"Hello from wasmroute"}`},
		{"GET", "/api/users/42", "", `{"id":"42","name":"User 42"}`},
		{"GET", "/api/files/a/b", "", `{"segments":["a","b"]}`},
		{"POST", "/api/echo", `{"a":1}`, `{"keys":1,"received":{"a":1}}`},
		{"GET", "/api/stream", "", "line 1\nline 2\nline 3\nline 4\nline 5\n"},
	}
	for _, tt := range tests {
		if status, body := fetch(t, tt.method, url+tt.path, tt.body, nil); status != 200 || body != tt.want {
			t.Errorf("%s %s: %d %q, want %q", tt.method, tt.path, status, body, tt.want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("start: %v", err)
	}

	out, err = run(t, ctx, "test", dir, "-count=1")
	if err != nil {
		t.Fatalf("test: %v\n%s", err, out)
	}
	for _, want := range []string{"ok  \tmyapp/app/api/hello", "ok  \tmyapp/app/api/users/[id]"} {
		if !strings.Contains(out, want) {
			t.Errorf("test output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "wasmroute_gen")); err == nil {
		t.Error("test left its directories in the app")
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, context.Background(), "--version")
	if err != nil || !strings.Contains(out, "wasmroute ") || !strings.Contains(out, "guest ABI v3") || !strings.Contains(out, "go1.") {
		t.Fatalf("--version: %v %q", err, out)
	}
}

// TestBuildChecksTheModuleStarts: a method var of the wrong type, which
// only the module's initialisation can see, is a build error naming the
// file, not a 500 for every request.
func TestBuildChecksTheModuleStarts(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	dir := filepath.Join(t.TempDir(), "badvar")
	if out, err := run(t, context.Background(), "init", dir, "--replace", repo); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	bad := "package route\n\nfunc get() int { return 42 }\n\nvar GET = get()\n"
	if err := os.WriteFile(filepath.Join(dir, "app/api/stream/route.go"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, context.Background(), "build", dir)
	if err == nil || !strings.Contains(err.Error(), "app/api/stream/route.go: GET has type int") {
		t.Fatalf("build: %v", err)
	}
}

// TestLogFormats: start's structured lines, JSON, and dev's human ones.
func TestLogFormats(t *testing.T) {
	tests := []struct {
		f    serveFlags
		want string
	}{
		{serveFlags{logLevel: "info"}, `level=INFO msg=request method=GET status=200`},
		{serveFlags{logLevel: "info", logFormat: "json"}, `"msg":"request","method":"GET","status":200`},
		{serveFlags{logLevel: "info", human: true}, "GET  200 in 0s"},
	}
	for _, tt := range tests {
		cmd := newRootCmd()
		var b strings.Builder
		cmd.SetErr(&b)
		log, err := tt.f.logger(cmd)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("request", "method", "GET", "status", 200)
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("%+v: %q, want %q", tt.f, b.String(), tt.want)
		}
	}
}

// TestServe: serve needs a token, then listens for apps and the admin API.
func TestServe(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASMROUTE_ADMIN_TOKEN", "")
	if _, err := run(t, context.Background(), "serve", "--data", data); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("serve without a token: %v", err)
	}
	t.Setenv("WASMROUTE_ADMIN_TOKEN", "a-token-long-enough-for-this")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls, done := background(t, ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0"},
		"Listening on ", "Admin API on ")
	public, admin := urls[0], urls[1]
	for _, tt := range []struct {
		url    string
		status int
	}{{admin + "/healthz", 200}, {admin + "/v1/apps", 401}, {public + "/api/hello", 404}} {
		if status, _ := fetch(t, "GET", tt.url, "", nil); status != tt.status {
			t.Errorf("%s: %d, want %d", tt.url, status, tt.status)
		}
	}
	// deploy, a second deploy of a change, versions, rollback.
	repo, _ := filepath.Abs("../..")
	app := filepath.Join(t.TempDir(), "edgeapp")
	if out, err := run(t, ctx, "init", app, "--replace", repo); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	get := func() string {
		status, body := fetch(t, "GET", public+"/api/hello", "", map[string]string{"Host": "edgeapp.example.com"})
		return fmt.Sprintf("%d %s", status, body)
	}
	client := []string{"--to", admin, "--app", "edgeapp", "--token", "a-token-long-enough-for-this"}
	out, err := run(t, ctx, append([]string{"deploy", app, "--domain", "edgeapp.example.com"}, client...)...)
	if err != nil || !strings.Contains(out, "Deployed edgeapp: version ") {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	first := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
	if got := get(); got != `200 {"message":"Hello from wasmroute"}` {
		t.Fatalf("after deploy: %s", got)
	}
	route := filepath.Join(app, "app/api/hello/route.go")
	src, _ := os.ReadFile(route)
	os.WriteFile(route, []byte(strings.Replace(string(src), " from wasmroute", " again", 1)), 0o644)
	if out, err := run(t, ctx, append([]string{"deploy", app}, client...)...); err != nil || strings.Contains(out, first) {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if got := get(); got != `200 {"message":"Hello again"}` {
		t.Fatalf("after the second deploy: %s", got)
	}
	if out, err := run(t, ctx, "versions", "--to", admin, "--app", "edgeapp", "--token", "a-token-long-enough-for-this"); err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "  "+first) {
		t.Fatalf("versions: %v\n%s", err, out)
	}
	if out, err := run(t, ctx, append([]string{"rollback"}, client...)...); err != nil || !strings.Contains(out, first) {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := get(); got != `200 {"message":"Hello from wasmroute"}` {
		t.Fatalf("after the rollback: %s", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestDeployCrashes kills `wasmroute serve` (a real process, exit 137 with
// no cleanup, as kill -9) at each step of a second deploy, restarts it, and
// checks that the app serves the old version or the new one, whole, and
// that the host's current version is the one answering.
func TestDeployCrashes(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	bin := filepath.Join(t.TempDir(), "wasmroute")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	app := filepath.Join(t.TempDir(), "crashapp")
	if out, err := run(t, context.Background(), "init", app, "--replace", repo); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	route := filepath.Join(app, "app/api/hello/route.go")
	v1src, _ := os.ReadFile(route)
	const token = "a-token-long-enough-for-this"
	tests := []struct {
		point string
		want  string // the message the app answers after the restart
	}{
		{"deploy-linked", "Hello from wasmroute"},
		{"deploy-version-written", "Hello from wasmroute"},
		{"deploy-started", "Hello from wasmroute"},
		{"deploy-switched", "Hello v2"},
	}
	for _, tt := range tests {
		t.Run(tt.point, func(t *testing.T) {
			data := t.TempDir()
			start := func(failpoint string) (*exec.Cmd, string, string) {
				cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error")
				cmd.Env = append(os.Environ(), "WASMROUTE_ADMIN_TOKEN="+token, "WASMROUTE_FAILPOINT="+failpoint)
				out, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				urls := awaitURLs(out, "Listening on ", "Admin API on ")
				return cmd, urls[0], urls[1]
			}
			deploy := func(admin string) error {
				_, err := run(t, context.Background(), "deploy", app, "--to", admin, "--app", "crash", "--domain", "crash.test", "--token", token)
				return err
			}
			os.WriteFile(route, v1src, 0o644)
			cmd, _, admin := start("")
			if err := deploy(admin); err != nil {
				t.Fatal(err)
			}
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()

			os.WriteFile(route, []byte(strings.Replace(string(v1src), " from wasmroute", " v2", 1)), 0o644)
			cmd, _, admin = start(tt.point)
			if err := deploy(admin); err == nil {
				t.Fatal("the deploy succeeded through its crash")
			}
			if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 137 {
				t.Fatalf("serve did not crash at %s: %v", tt.point, err)
			}

			cmd, public, admin := start("")
			defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
			if status, body := fetch(t, "GET", public+"/api/hello", "", map[string]string{"Host": "crash.test"}); status != 200 || !strings.Contains(body, tt.want) {
				t.Fatalf("after a crash at %s: %d %s, want %q", tt.point, status, body, tt.want)
			}
			out, err := run(t, context.Background(), "versions", "--to", admin, "--app", "crash", "--token", token)
			if err != nil || !strings.Contains(out, "* ") {
				t.Fatalf("versions after the crash: %v\n%s", err, out)
			}
		})
	}
}
