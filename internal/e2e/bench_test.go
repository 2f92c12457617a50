package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/host"
)

// BenchmarkHost measures one request through the host in process, without
// the network: routing, the pool, the guest call and the SDK. Compare with
// BenchmarkNative... in scripts/bench's output for the full picture.
//
//	go test ./internal/e2e -run '^$' -bench Host -benchmem
func BenchmarkHost(b *testing.B) {
	s := serve(b, exampleDir, host.Options{})
	if err := s.host.Warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	f := serve(b, faultyDir, host.Options{})
	b.Run("noop", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			f.host.ServeHTTP(w, httptest.NewRequest("GET", "/api/noop", nil))
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
	for _, bc := range []struct{ name, method, path, body string }{
		{"hello", "GET", "/api/hello", ""},
		{"user42", "GET", "/api/users/42", ""},
		{"createUser", "POST", "/api/users", `{"name":"Ada","email":"ada@example.com"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var body *strings.Reader
				req := httptest.NewRequest(bc.method, bc.path, nil)
				if bc.body != "" {
					body = strings.NewReader(bc.body)
					req = httptest.NewRequest(bc.method, bc.path, body)
				}
				w := httptest.NewRecorder()
				s.host.ServeHTTP(w, req)
				if w.Code >= 300 {
					b.Fatalf("%s %s: %d %s", bc.method, bc.path, w.Code, w.Body)
				}
			}
		})
	}
	_ = http.StatusOK
}
