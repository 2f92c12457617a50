package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/dev"
)

func textRoute(method, body string) string {
	return "package route\n\nimport (\n\t\"io\"\n\t\"net/http\"\n)\n\nfunc " + method +
		"(w http.ResponseWriter, r *http.Request) { io.WriteString(w, " + body + ") }\n"
}

// runDev runs the dev loop on the app in dir until the test ends, serving
// it over HTTP, and returns the server, the loop's build events and its
// output.
func runDev(t *testing.T, dir string, opts host.Options) (*server, chan dev.Event, *logBuffer) {
	t.Helper()
	events := make(chan dev.Event, 4)
	out := &logBuffer{}
	opts.CacheDir, opts.Logger = cacheDir, discardLogger()
	loop, err := dev.New(dir, out, opts)
	if err != nil {
		t.Fatal(err)
	}
	loop.Events = events
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	srv := httptest.NewServer(loop.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &server{Server: srv}, events, out
}

// TestDevRebuildsWhatChanged drives the dev loop through edits: only the
// routes built from a changed file are recompiled, a request in flight
// finishes on the old code, a broken build keeps the last good version, and
// a new route appears.
func TestDevRebuildsWhatChanged(t *testing.T) {
	dir := newApp(t, "example.com/devapp", map[string]string{
		"lib/msg/msg.go":        "package msg\n\nfunc A() string { return \"a v1\" }\n",
		"app/api/a/route.go":    "package route\n\nimport (\n\t\"io\"\n\t\"net/http\"\n\n\t\"example.com/devapp/lib/msg\"\n)\n\nfunc GET(w http.ResponseWriter, r *http.Request) { io.WriteString(w, msg.A()) }\n",
		"app/api/b/route.go":    textRoute("GET", `"b v1"`),
		"app/api/hold/route.go": holdRoute("v1"),
	})
	s, events, out := runDev(t, dir, host.Options{})

	next := func(t *testing.T) dev.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(2 * time.Minute):
			t.Fatal("no build event within two minutes")
			return dev.Event{}
		}
	}
	expect := func(t *testing.T, path, want string) {
		t.Helper()
		if resp, body := s.do(t, "GET", path, ""); resp.StatusCode != 200 || body != want {
			t.Fatalf("GET %s = %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
	if ev := next(t); ev.Err != nil || len(ev.Compiled) != 3 {
		t.Fatalf("first build: %+v", ev)
	}
	expect(t, "/api/a", "a v1")
	expect(t, "/api/b", "b v1")

	// A request in flight on /api/hold: it answers "started", then waits
	// for the rest of its request body.
	pr, pw := io.Pipe()
	holdResp, err := http.Post(s.URL+"/api/hold", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer holdResp.Body.Close()
	holdBody := bufio.NewReader(holdResp.Body)
	if line, err := holdBody.ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("hold: %q %v", line, err)
	}

	write(t, filepath.Join(dir, "app/api/hold/route.go"), holdRoute("v2"))
	write(t, filepath.Join(dir, "app/api/b/route.go"), textRoute("GET", `"b v2"`))
	if ev := next(t); ev.Err != nil || !reflect.DeepEqual(ev.Compiled, []string{"/api/b", "/api/hold"}) {
		t.Fatalf("after editing b and hold: %+v, want only those rebuilt", ev)
	}
	expect(t, "/api/b", "b v2")
	pw.Close()
	if rest, err := io.ReadAll(holdBody); err != nil || string(rest) != "finished v1" {
		t.Fatalf("request in flight during the swap ended with %q %v, want the old code to finish it", rest, err)
	}

	write(t, filepath.Join(dir, "lib/msg/msg.go"), "package msg\n\nfunc A() string { return \"a v2\" }\n")
	if ev := next(t); ev.Err != nil || !reflect.DeepEqual(ev.Compiled, []string{"/api/a"}) {
		t.Fatalf("after editing lib/msg: %+v, want only /api/a rebuilt", ev)
	}
	expect(t, "/api/a", "a v2")

	write(t, filepath.Join(dir, "app/api/b/route.go"), "package route\n\nimport \"net/http\"\n\nfunc GET(w http.ResponseWriter, r *http.Request) {\n\tnotDefined()\n}\n")
	ev := next(t)
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "app/api/b/route.go:6:2: undefined: notDefined") {
		t.Fatalf("broken build: %+v", ev)
	}
	expect(t, "/api/b", "b v2")
	if !strings.Contains(out.String(), "still serving the last good build") {
		t.Fatalf("dev output lacks the failure notice:\n%s", out.String())
	}

	write(t, filepath.Join(dir, "app/api/b/route.go"), textRoute("GET", `"b v3"`))
	write(t, filepath.Join(dir, "app/api/c/route.go"), textRoute("GET", `"c v1"`))
	for {
		ev := next(t)
		if ev.Err != nil {
			t.Fatalf("fixed build: %v", ev.Err)
		}
		if contains(ev.Compiled, "/api/c") {
			break
		}
	}
	expect(t, "/api/b", "b v3")
	expect(t, "/api/c", "c v1")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// holdRoute is the fault app's hold route (answers "started", waits for the
// end of the request body), changed to finish with a version.
func holdRoute(version string) string {
	src, err := os.ReadFile(filepath.Join(faultyDir, "app", "api", "hold", "route.go"))
	if err != nil {
		panic(err)
	}
	return strings.Replace(string(src), `io.WriteString(w, "done")`, `io.WriteString(w, "finished `+version+`")`, 1)
}

// TestDevReadsSecretsAgain: the dev loop reloads the app when .env
// changes, and routes see the new secret without a rebuild.
func TestDevReadsSecretsAgain(t *testing.T) {
	dir := newApp(t, "example.com/secretapp", map[string]string{
		"wasmroute.toml":       "secrets = [\"TOKEN\"]\n",
		".env":                 "TOKEN=one\n",
		"app/api/tok/route.go": "package route\n\nimport (\n\t\"io\"\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc GET(w http.ResponseWriter, r *http.Request) { io.WriteString(w, os.Getenv(\"TOKEN\")) }\n",
	})
	// As the CLI does: the file is read on every lookup.
	lookup := func(name string) (string, bool) {
		b, _ := os.ReadFile(filepath.Join(dir, ".env"))
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	s, events, out := runDev(t, dir, host.Options{LookupSecret: lookup})
	select {
	case ev := <-events:
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no first build")
	}
	if _, body := s.do(t, "GET", "/api/tok", ""); body != "one" {
		t.Fatalf("before: %q", body)
	}
	write(t, filepath.Join(dir, ".env"), "TOKEN=two\n")
	waitFor(t, func() bool { _, body := s.do(t, "GET", "/api/tok", ""); return body == "two" })
	if !strings.Contains(out.String(), ".env changed") {
		t.Errorf("dev did not say so:\n%s", out)
	}
}
