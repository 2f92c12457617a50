// Package e2e tests wasmroute end to end: it builds real apps to WebAssembly
// with the build package, serves them through the host over real HTTP, and
// checks what clients see.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/build"
	"github.com/wasmroute/wasmroute/internal/redisconn"
)

// Apps built once for the whole test binary.
var (
	exampleDir = filepath.Join("..", "..", "examples", "api")
	faultyDir  = filepath.Join("testdata", "faulty")
	// plainDir is an app built without the loop countdown (NoLoopCheck).
	plainDir = filepath.Join("testdata", "plain")
	// tckDir implements the ABI conformance routes (abi/tck) with the SDK.
	tckDir = filepath.Join("testdata", "tck")
)

// cacheDir is one compilation cache for every host in this test binary.
var cacheDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	redisconn.Quiet()
	for _, app := range []struct {
		dir  string
		opts build.Options
	}{{exampleDir, build.Options{}}, {faultyDir, build.Options{}}, {plainDir, build.Options{NoLoopCheck: true}}, {tckDir, build.Options{}}} {
		if _, err := build.Build(ctx, app.dir, app.opts); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", app.dir, err)
			return 1
		}
	}
	// Compiled modules are cached by content, so one cache can serve every
	// run; it saves most of the suite's time after the first.
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	cacheDir = filepath.Join(base, "wasmroute", "wazero-test")
	return m.Run()
}

// testSecrets supplies the secrets the test apps declare.
func testSecrets(name string) (string, bool) {
	v, ok := map[string]string{"API_TOKEN": "test-token", "TOKEN": "s3cret"}[name]
	return v, ok
}

// logBuffer collects output written from several goroutines (host logs, dev
// output) so tests can check it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// server is a host serving one bundle over real HTTP.
type server struct {
	*httptest.Server
	host *host.Host
	logs *logBuffer
}

// serve starts a host for the app in appDir (its .wasmroute bundle).
func serve(t testing.TB, appDir string, opts host.Options) *server {
	t.Helper()
	return serveBundle(t, filepath.Join(appDir, bundle.DirName), opts)
}

func serveBundle(t testing.TB, bundleDir string, opts host.Options) *server {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.CacheDir == "" {
		opts.CacheDir = cacheDir
	}
	if opts.LookupSecret == nil {
		opts.LookupSecret = testSecrets
	}
	h, err := host.New(bundleDir, opts)
	if err != nil {
		t.Fatalf("host.New(%s): %v", bundleDir, err)
	}
	s := &server{Server: httptest.NewServer(h), host: h, logs: logs}
	t.Cleanup(func() {
		s.Close()
		h.Close(context.Background())
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	})
	return s
}

// noRedirect is a client that reports redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends one request and returns the response with its whole body.
func (s *server) do(t testing.TB, method, path, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}
