package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/host"
)

var requestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestMiddleware(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})

	// Every response under /api carries the id the middleware made.
	resp, body := s.do(t, "GET", "/api/hello", "")
	if resp.StatusCode != 200 || body != `{"message":"Hello World"}` || !requestID.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("GET /api/hello: %d %s X-Request-Id %q", resp.StatusCode, body, resp.Header.Get("X-Request-Id"))
	}
	// 404s too: the middleware runs before routing.
	if resp, _ := s.do(t, "GET", "/api/nope", ""); resp.StatusCode != 404 || !requestID.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("404 without X-Request-Id: %v", resp.Header)
	}

	// It answers for the route: the guard.
	resp, body = s.do(t, "GET", "/api/admin/stats", "")
	if resp.StatusCode != 403 || body != `{"error":"Forbidden"}` || !requestID.MatchString(resp.Header.Get("X-Request-Id")) {
		t.Fatalf("admin without X-Admin: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	// Or lets the request through with a header it added.
	resp, body = s.do(t, "GET", "/api/admin/stats", "", "X-Admin", "1")
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 200 || body != `{"users":50,"requestId":"`+id+`"}` || !requestID.MatchString(id) {
		t.Fatalf("admin with X-Admin: %d %s (X-Request-Id %q)", resp.StatusCode, body, id)
	}

	// A rewrite serves another route under the same URL.
	resp, body = s.do(t, "GET", "/api/legacy-hello", "")
	if resp.StatusCode != 200 || body != `{"message":"Hello World"}` || resp.Header.Get("X-Middleware-Rewrite") != "" {
		t.Fatalf("rewrite: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if !strings.Contains(s.logs.String(), "path=/api/legacy-hello route=/api/hello status=200") {
		t.Fatalf("rewritten request not logged under its route:\n%s", s.logs)
	}

	// Outside the matcher it does not run.
	if resp, _ := s.do(t, "GET", "/elsewhere", ""); resp.Header.Get("X-Request-Id") != "" {
		t.Fatal("middleware ran outside its matcher")
	}
}

func TestMiddlewarePanic(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	for i := 0; i < 3; i++ {
		if resp, body := s.do(t, "GET", "/api/mwpanic", ""); resp.StatusCode != 500 || body != internalError {
			t.Fatalf("panicking middleware: %d %s", resp.StatusCode, body)
		}
	}
	if !strings.Contains(s.logs.String(), "middleware boom") {
		t.Fatalf("panic not logged:\n%s", s.logs)
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("routes outside the matcher stopped working")
	}
}

// TestMiddlewareInRoute covers the middleware running with the route's
// handler in one call (abi.FlagMiddleware): every way it can end, and that
// the middleware runs in a call of its own only when no handler will.
func TestMiddlewareInRoute(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	calls := func() uint64 { return stats(s, "/api/mw/[name]").Calls }
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"goes on to the handler", "GET", "/api/mw/a", "", 200, "a seen "},
		{"answers", "GET", "/api/mw/a?answer=1", "", 418, "middleware answered"},
		{"rewrites", "GET", "/api/mw/a?rewrite=1", "", 200, "rewritten seen from=/api/mw/a"},
		{"handler sees the body", "POST", "/api/mw/a", "a body the middleware left", 200, "a body the middleware left"},
		{"handler panics", "GET", "/api/mw/panic", "", 500, internalError},
		{"middleware panics", "GET", "/api/mw/a?panic=1", "", 500, internalError},
		{"still healthy", "GET", "/api/mw/b", "", 200, "b seen "},
	}
	before := calls()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status || body != tt.want {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.name != "middleware panics" && strings.Join(resp.Header["X-Mw-Response"], ",") != "1" {
				t.Errorf("X-Mw-Response = %q, want the middleware's one value", resp.Header["X-Mw-Response"])
			}
			if resp.Header.Get("X-Route") != "" || resp.Header.Get("X-Middleware-Rewrite") != "" {
				t.Errorf("leaked headers: %v", resp.Header)
			}
		})
	}
	// One call per request; the rewrite routes again, in a second.
	if n := calls() - before; n != uint64(len(tests))+1 {
		t.Fatalf("%d requests made %d guest calls, want %d", len(tests), n, len(tests)+1)
	}
	// A method the route lacks is answered by the host, so the middleware
	// runs alone first.
	before = calls()
	resp, _ := s.do(t, "PUT", "/api/mw/a", "")
	if resp.StatusCode != 405 || resp.Header.Get("X-Mw-Response") != "1" {
		t.Fatalf("405 behind the middleware: %d %v", resp.StatusCode, resp.Header)
	}
	if n := calls() - before; n != 1 {
		t.Fatalf("the 405 made %d guest calls, want 1 (the middleware)", n)
	}
	for _, want := range []string{"route boom", "middleware boom", "path=/api/mw/a route=/api/mw/[name] status=200"} {
		if !strings.Contains(s.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, s.logs)
		}
	}
}
