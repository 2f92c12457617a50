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
