// Package scaffold writes a new wasmroute app: what `wasmroute init` does.
package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
)

// ModulePath is the Go module of wasmroute.
const ModulePath = "github.com/wasmroute/wasmroute"

// Options configure Write.
type Options struct {
	// Module is the app's module path. Defaults to the directory's name.
	Module string
	// Replace, if set, is a wasmroute checkout the app's go.mod points at
	// with a replace directive, while the module is not on the proxy.
	Replace string
	// Version is the wasmroute version the app requires. Defaults to
	// v0.0.0, which only a Replace resolves.
	Version string
}

// files are the app's files: path -> contents, with {{module}} for the
// module path.
var files = map[string]string{
	".gitignore": ".wasmroute/\n.wasmroute-data/\n.env\nwasmroute_gen/\n",
	"wasmroute.toml": `# App configuration: https://github.com/wasmroute/wasmroute#app-configuration-wasmroutetoml
max_duration = 10                # seconds a request may run

[env]                            # variables the routes see through os.Getenv
GREETING = "Hello"
`,
	"app/api/hello/route.go": `// Package route is a static route: GET /api/hello.
package route

import (
	"net/http"
	"os"

	"github.com/wasmroute/wasmroute/guest"
)

// GET answers with a greeting from the app's [env] in wasmroute.toml.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"message": os.Getenv("GREETING") + " from wasmroute"})
}
`,
	"app/api/hello/route_test.go": `package route

import (
	"net/http/httptest"
	"testing"
)

// A route is a plain net/http handler, so it is tested like one.
func TestGET(t *testing.T) {
	t.Setenv("GREETING", "Hi")
	w := httptest.NewRecorder()
	GET(w, httptest.NewRequest("GET", "/api/hello", nil))
	if w.Code != 200 || w.Body.String() != ` + "`" + `{"message":"Hi from wasmroute"}` + "`" + ` {
		t.Fatalf("GET /api/hello = %d %s", w.Code, w.Body)
	}
}
`,
	"app/api/users/[id]/route.go": `// Package route is a dynamic route: /api/users/{id}.
package route

import (
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// GET answers the user with the id in the path.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "name": "User " + r.PathValue("id")})
}
`,
	"app/api/users/[id]/route_test.go": `package route

import (
	"net/http/httptest"
	"testing"

	"github.com/wasmroute/wasmroute/guest"
)

// guest.Route serves the handler at the route's pattern, so r.PathValue
// is filled as in the host. Run the tests with wasmroute test: go test
// cannot name folders such as [id].
func TestGET(t *testing.T) {
	w := httptest.NewRecorder()
	guest.Route("/api/users/[id]", GET).ServeHTTP(w, httptest.NewRequest("GET", "/api/users/42", nil))
	if w.Code != 200 || w.Body.String() != ` + "`" + `{"id":"42","name":"User 42"}` + "`" + ` {
		t.Fatalf("GET /api/users/42 = %d %s", w.Code, w.Body)
	}
}
`,
	"app/api/files/[...path]/route.go": `// Package route is a catch-all route: /api/files/a/b/c.
package route

import (
	"net/http"
	"strings"

	"github.com/wasmroute/wasmroute/guest"
)

// GET answers the segments the path caught.
func GET(w http.ResponseWriter, r *http.Request) {
	guest.JSON(w, http.StatusOK, map[string]any{"segments": strings.Split(r.PathValue("path"), "/")})
}
`,
	"app/api/echo/route.go": `// Package route takes JSON: POST /api/echo.
package route

import (
	"encoding/json"
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

// BodyLimit caps the request body at 64 KB.
const BodyLimit = 64 << 10

// POST answers the JSON object it was sent, with a count of its keys.
func POST(w http.ResponseWriter, r *http.Request) {
	var v map[string]any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		guest.Error(w, http.StatusBadRequest, "send a JSON object")
		return
	}
	guest.JSON(w, http.StatusOK, map[string]any{"received": v, "keys": len(v)})
}
`,
	"app/api/stream/route.go": `// Package route streams: GET /api/stream.
package route

import (
	"fmt"
	"net/http"
	"time"
)

// GET sends five lines, one every 100 ms, each flushed to the client.
func GET(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(w, "line %d\n", i)
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond)
	}
}
`,
}

// Files lists the paths Write creates, sorted, go.mod first.
func Files() []string {
	out := []string{"go.mod"}
	for p := range files {
		out = append(out, p)
	}
	sort.Strings(out[1:])
	return out
}

// Write creates a new app in dir. It refuses a directory that already
// holds an app (go.mod or app/).
func Write(dir string, opts Options) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for _, name := range []string{"go.mod", "app"} {
		if _, err := os.Stat(filepath.Join(abs, name)); err == nil {
			return fmt.Errorf("%s already has %s; init makes a new app in an empty or new directory", dir, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	module := opts.Module
	if module == "" {
		module = modulePathFor(filepath.Base(abs))
	}
	version := opts.Version
	if version == "" {
		version = "v0.0.0"
	}
	gomod := fmt.Sprintf("module %s\n\ngo %s\n\nrequire %s %s\n", module, goVersion(), ModulePath, version)
	if opts.Replace != "" {
		gomod += fmt.Sprintf("\n// wasmroute is not on the module proxy yet: build against a checkout.\nreplace %s => %s\n", ModulePath, opts.Replace)
	}
	all := map[string]string{"go.mod": gomod}
	for p, c := range files {
		all[p] = c
	}
	for _, p := range Files() {
		path := filepath.Join(abs, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(all[p]), 0o644); err != nil {
			return err
		}
	}
	return nil
}

var unsafeModuleChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// modulePathFor makes a module path from a directory name.
func modulePathFor(name string) string {
	m := strings.Trim(unsafeModuleChars.ReplaceAllString(strings.ToLower(name), "-"), "-.")
	if m == "" {
		m = "app"
	}
	return m
}

// goVersion is the language version for the app's go.mod: the toolchain
// this CLI was built with, as major.minor.0.
func goVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return "1.26.0"
	}
	minor := strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	return parts[0] + "." + minor + ".0"
}

// Checkout returns the wasmroute checkout this program was built from, if
// it can tell: the source file of the caller, when not trimmed, inside a
// directory whose go.mod is wasmroute's. file is that source file
// (runtime.Caller's).
func Checkout(file string) string {
	for d := filepath.Dir(file); d != filepath.Dir(d); d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err != nil {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(string(b)), "module "+ModulePath+"\n") {
			return d
		}
		return ""
	}
	return ""
}

// Version is the version of wasmroute this program was built as: a module
// version when installed from the proxy, or the checkout's commit.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return "devel " + rev
}
