package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/testserver"
)

const exampleApp = "../../examples/api"

// run executes the CLI in process with args and returns its output.
func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// awaitURLs reads the lines of r until each prefix ("Listening on ") has
// begun one, returns what followed each prefix, and drains r from then on.
// A URL is "" if r ended first.
func awaitURLs(r io.Reader, prefixes ...string) []string {
	urls := make([]string, len(prefixes))
	missing := len(prefixes)
	lines := bufio.NewScanner(r)
	for missing > 0 && lines.Scan() {
		for i, p := range prefixes {
			if _, after, ok := strings.Cut(lines.Text(), p); ok && urls[i] == "" {
				urls[i] = after
				missing--
			}
		}
	}
	go io.Copy(io.Discard, r)
	return urls
}

// background runs the CLI in process with args until ctx ends, and
// returns the URLs it printed after each prefix, and its result.
func background(t *testing.T, ctx context.Context, args []string, prefixes ...string) ([]string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetOut(pw)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(args)
		done <- cmd.ExecuteContext(ctx)
		pw.Close()
	}()
	urls := awaitURLs(pr, prefixes...)
	for i, u := range urls {
		if u == "" {
			t.Fatalf("%v printed no %q line: %v", args, prefixes[i], <-done)
		}
	}
	return urls, done
}

// fetch sends one request and returns its status and body. A "Host" entry
// in header sets the request's host.
func fetch(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Host = req.Header.Get("Host")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestBuildAndRoutesPrintTheTable(t *testing.T) {
	out, err := run(t, context.Background(), "build", exampleApp)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Route", "Methods", "Size",
		"/api/users/[id]        GET, PUT, PATCH, DELETE", "app/api/users/[id]/route.go",
		"/api/health", "app/(internal)/api/health/route.go",
		"Network: /api/weather may connect to ${WEATHER_URL}",
		"Built 17 routes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, context.Background(), "routes", exampleApp)
	if err != nil || !strings.Contains(out, "/api/docs/[[...slug]]  GET") || !strings.Contains(out, " MB ") {
		t.Fatalf("routes: %v\n%s", err, out)
	}
}

func TestHelp(t *testing.T) {
	for _, sub := range []string{"build", "start", "dev", "routes"} {
		out, err := run(t, context.Background(), sub, "--help")
		if err != nil || !strings.Contains(out, "wasmroute "+sub+" [DIR]") {
			t.Errorf("%s --help: %v\n%s", sub, err, out)
		}
	}
	if out, _ := run(t, context.Background(), "start", "--help"); !strings.Contains(out, "--addr") || !strings.Contains(out, "127.0.0.1:3000") {
		t.Errorf("start --help does not document --addr:\n%s", out)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"build", empty}, "no app directory"},
		{[]string{"routes", empty}, "no app directory"},
		{[]string{"start", empty}, "run `wasmroute build` first"},
		{[]string{"start", exampleApp, "--log-level", "loud"}, "--log-level"},
		{[]string{"build", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"start", exampleApp, "--env-file", "/nonexistent/.env"}, "--env-file /nonexistent/.env"},
		{[]string{"start", exampleApp, "--kv-memory", "--env", "API_TOKEN=x"}, "API_TOKEN is one of the app's secrets"},
		{[]string{"start", exampleApp, "--log-format", "yaml"}, `--log-format: "yaml" is not human, text or json`},
		{[]string{"start", exampleApp, "--kv-memory", "--cache", "bogus"}, `--cache "bogus": want memory, off, or redis://`},
		{[]string{"start", exampleApp, "--kv-memory", "--cache-size", "lots"}, "--cache-size"},
		{[]string{"start", exampleApp, "--kv", "notaurl"}, `--kv: redis URL "notaurl"`},
	}
	for _, tt := range tests {
		_, err := run(t, context.Background(), tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestStartServesUntilCancelled runs `wasmroute start` on a real listener,
// learns its address from the line it prints, and stops it.
func TestStartServesUntilCancelled(t *testing.T) {
	if out, err := run(t, context.Background(), "build", exampleApp); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls, done := background(t, ctx, []string{"start", exampleApp, "--addr", "127.0.0.1:0", "--log-level", "error"}, "Listening on ")
	url := urls[0]
	if _, body := fetch(t, "GET", url+"/api/hello", "", nil); body != `{"message":"Hello World"}` {
		t.Fatalf("GET /api/hello = %s", body)
	}
	// The secret comes from examples/api/.env, read by start.
	if status, _ := fetch(t, "GET", url+"/api/private", "", map[string]string{"Authorization": "Bearer dev-token-change-me"}); status != 200 {
		t.Fatalf("GET /api/private with the .env token: %d", status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("start returned %v after cancel", err)
	}
}

func TestPrintNetwork(t *testing.T) {
	modules := []bundle.Module{{}, {Network: true}}
	net := []bundle.Route{{Pattern: "/api/a", Module: 1}, {Pattern: "/api/b"}, {Pattern: "/api/c", Module: 1}}
	tests := []struct {
		name string
		m    bundle.Manifest
		want string
	}{
		{"no network", bundle.Manifest{Modules: modules[:1], Routes: []bundle.Route{{Pattern: "/api/b"}}}, ""},
		{"allowed", bundle.Manifest{Modules: modules, Routes: net, App: bundle.AppConfig{AllowedOutboundHosts: []string{"a.com:443"}}},
			"Network: /api/a, /api/c may connect to a.com:443\n"},
		{"nothing allowed", bundle.Manifest{Modules: modules, Routes: net},
			"warning: /api/a, /api/c use the network, but wasmroute.toml has no allowed_outbound_hosts: every connection will be refused\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		printNetwork(&b, &tt.m)
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
	}
}

// TestStartOnRedis serves the example with its KV store and response cache
// in a real redis-server: the posts list is a miss, then a hit, a post
// lands in Redis under the app's prefix, and the cached list is revalidated.
func TestStartOnRedis(t *testing.T) {
	srv := testserver.Redis(t)
	if out, err := run(t, context.Background(), "build", exampleApp); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls, done := background(t, ctx, []string{"start", exampleApp, "--addr", "127.0.0.1:0", "--kv", srv.URL, "--cache", srv.URL}, "Listening on ")
	get := func() string {
		resp, err := http.Get(urls[0] + "/api/posts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.Header.Get("X-Wasmroute-Cache")
	}
	// The cache serves once it has subscribed: until then, misses.
	deadline := time.Now().Add(10 * time.Second)
	for get() != "HIT" {
		if time.Now().After(deadline) {
			t.Fatal("GET /api/posts never became a hit")
		}
		time.Sleep(20 * time.Millisecond) // polling for the subscription
	}
	if status, body := fetch(t, "POST", urls[0]+"/api/posts", `{"title":"On Redis","body":"x"}`, nil); status != 201 {
		t.Fatalf("POST: %d %s", status, body)
	}
	if got := get(); got != "STALE" {
		t.Errorf("after the post: %s, want STALE", got)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if keys, err := c.Keys(context.Background(), "wasmroute:{api}:kv:post:*").Result(); err != nil || len(keys) != 1 {
		t.Errorf("the post in Redis: %v %v", keys, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("start: %v", err)
	}
}
