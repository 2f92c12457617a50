package main

import (
	"context"
	"os"
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
