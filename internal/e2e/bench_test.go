package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/host"
)

// BenchmarkHost measures one request through the host in process, without
// the network: routing, the pool, the guest call and the SDK. scripts/bench
// measures the same app over HTTP against its native net/http equivalent.
//
//	go test ./internal/e2e -run '^$' -bench Host -benchmem
func BenchmarkHost(b *testing.B) {
	s := serve(b, exampleDir, host.Options{})
	if err := s.host.Warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	f := serve(b, faultyDir, host.Options{})
	if err := f.host.Warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/noop"} {
		b.Run(strings.TrimPrefix(path, "/api/"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				f.host.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
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

// BenchmarkHostParallel is BenchmarkHost/user42 from many goroutines at
// once, as under load: it shows what the pool and scheduling add.
func BenchmarkHostParallel(b *testing.B) {
	s := serve(b, exampleDir, host.Options{})
	if err := s.host.Warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(25) // 50 goroutines on 2 cores, as wrk -c50
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			s.host.ServeHTTP(w, httptest.NewRequest("GET", "/api/users/42", nil))
			if w.Code != 200 {
				b.Error(w.Code)
				return
			}
		}
	})
}

// BenchmarkIsolation compares a pooled route with one under
// isolation = "request", which starts an instance for every request (the
// plain app's /api/ok and /api/count do the same trivial work).
func BenchmarkIsolation(b *testing.B) {
	s := serve(b, plainDir, host.Options{})
	if err := s.host.Warm(b.Context()); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path string }{{"pool", "/api/ok"}, {"request", "/api/count"}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				s.host.ServeHTTP(w, httptest.NewRequest("GET", bc.path, nil))
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
