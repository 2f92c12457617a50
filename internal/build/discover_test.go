package build

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/bundle"
)

const getHandler = "package route\n\nimport \"net/http\"\n\nfunc GET(w http.ResponseWriter, r *http.Request) {}\n"

// writeTree creates files (path -> content) under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDiscover(t *testing.T) {
	type want struct {
		pattern string
		methods []string
		source  string
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []want
	}{
		{"next.js folder conventions", map[string]string{
			"app/api/hello/route.go":            getHandler,
			"app/api/users/[id]/route.go":       getHandler,
			"app/api/files/[...path]/route.go":  getHandler,
			"app/api/docs/[[...slug]]/route.go": getHandler,
			"app/(admin)/api/stats/route.go":    getHandler,
			"app/(a)/(b)/deep/route.go":         getHandler,
			"app/route.go":                      getHandler,
			"app/_private/route.go":             getHandler,
			"app/.hidden/route.go":              getHandler,
			"app/api/hello/helper.go":           "package route\n",
			"app/api/hello/route_test.go":       "package route\n",
			"app/api/notaroute/handler.go":      getHandler,
		}, []want{
			{"/", []string{"GET"}, "app/route.go"},
			{"/api/docs/[[...slug]]", []string{"GET"}, "app/api/docs/[[...slug]]/route.go"},
			{"/api/files/[...path]", []string{"GET"}, "app/api/files/[...path]/route.go"},
			{"/api/hello", []string{"GET"}, "app/api/hello/route.go"},
			{"/api/stats", []string{"GET"}, "app/(admin)/api/stats/route.go"},
			{"/api/users/[id]", []string{"GET"}, "app/api/users/[id]/route.go"},
			{"/deep", []string{"GET"}, "app/(a)/(b)/deep/route.go"},
		}},
		{"methods from funcs and vars in several files", map[string]string{
			"app/x/route.go": "package route\n\nimport \"net/http\"\n\nfunc DELETE(w http.ResponseWriter, r *http.Request) {}\n" +
				"var GET = http.HandlerFunc(nil)\nvar (\n\tPOST, PUT http.Handler\n)\nfunc (T) GET(w http.ResponseWriter, r *http.Request) {}\ntype T struct{}\nfunc get() {}\n",
			"app/x/more.go": "package route\n\nimport \"net/http\"\n\nfunc OPTIONS(w http.ResponseWriter, r *http.Request) {}\n",
		}, []want{{"/x", []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"}, "app/x/route.go"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routes, err := Discover(writeTree(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, r := range routes {
				got = append(got, want{r.Pattern, r.MethodList(), r.Source})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("routes:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestDiscoverHandlerKindsAndConfig(t *testing.T) {
	dir := writeTree(t, map[string]string{"app/x/route.go": `package route

import "net/http"

const MaxDuration = 10
const Dynamic = "force-dynamic"
const (
	Revalidate = 60 * 2
	BodyLimit  = 4 << 20
)
const Runtime = "edge"
const notExported = 1

func GET(w http.ResponseWriter, r *http.Request) {}

var POST = GET
`})
	routes, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := routes[0]
	if r.Methods["GET"] != FuncHandler || r.Methods["POST"] != VarHandler {
		t.Errorf("kinds = %v", r.Methods)
	}
	want := bundle.SegmentConfig{MaxDuration: 10, Dynamic: "force-dynamic", Revalidate: 120, BodyLimit: 4 << 20}
	if r.Config != want {
		t.Errorf("config = %+v, want %+v", r.Config, want)
	}
	dir = writeTree(t, map[string]string{"app/x/route.go": getHandler + "const Revalidate = false\nconst Dynamic = \"force-static\"\n"})
	if routes, err := Discover(dir); err != nil || routes[0].Config.Revalidate != bundle.RevalidateNever || routes[0].Config.Dynamic != bundle.DynamicForceStatic {
		t.Errorf("Revalidate = false: %+v, %v", routes, err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unknown route segment config Runtime") {
		t.Errorf("warnings = %q", r.Warnings)
	}
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"no app dir", map[string]string{"main.go": "package main\n"}, []string{"no app directory"}},
		{"no routes", map[string]string{"app/lib/x.go": "package lib\n"}, []string{"no routes"}},
		{"no handlers", map[string]string{"app/x/route.go": "package route\n\nfunc get() {}\n"},
			[]string{"app/x/route.go", "exports no method handler"}},
		{"bad signature", map[string]string{"app/x/route.go": "package route\n\nfunc GET() {}\n"},
			[]string{"route.go:3:1", "GET has the signature func(); a handler is func(w http.ResponseWriter, r *http.Request)"}},
		{"swapped parameters", map[string]string{"app/x/route.go": "package route\n\nimport \"net/http\"\n\nfunc GET(r *http.Request, w http.ResponseWriter) {}\n"},
			[]string{"route.go:5:1", "GET has the signature func(*http.Request, http.ResponseWriter)"}},
		{"a request not by pointer", map[string]string{"app/x/route.go": "package route\n\nimport \"net/http\"\n\nfunc POST(w http.ResponseWriter, r http.Request) {}\n"},
			[]string{"POST has the signature func(http.ResponseWriter, http.Request)"}},
		{"a method in the wrong case", map[string]string{"app/x/route.go": getHandler + "\nfunc Post(w http.ResponseWriter, r *http.Request) {}\n"},
			[]string{"Post is not a method handler: method names are upper case (POST)"}},
		{"a number as handler", map[string]string{"app/x/route.go": "package route\n\nvar GET = 42\n"},
			[]string{"route.go:3:5", "GET is not a handler"}},
		{"const handler", map[string]string{"app/x/route.go": "package route\n\nconst GET = 1\n"},
			[]string{"GET is a constant"}},
		{"bad config", map[string]string{"app/x/route.go": getHandler + "const MaxDuration = \"ten\"\n"},
			[]string{"MaxDuration must be a non-negative integer"}},
		{"Revalidate = true", map[string]string{"app/x/route.go": getHandler + "const Revalidate = true\n"},
			[]string{"Revalidate must be false or a number of seconds"}},
		{"an unknown Dynamic", map[string]string{"app/x/route.go": getHandler + "const Dynamic = \"static\"\n"},
			[]string{`Dynamic must be "auto", "force-dynamic", "force-static" or "error"`}},
		{"package main", map[string]string{"app/x/route.go": strings.Replace(getHandler, "package route", "package main", 1)},
			[]string{"cannot be package main"}},
		{"syntax error", map[string]string{"app/x/route.go": "package route\n\nfunc GET( {\n"},
			[]string{"route.go:3"}},
		{"groups claim the same URL", map[string]string{"app/(a)/x/route.go": getHandler, "app/(b)/x/route.go": getHandler},
			[]string{"app/(a)/x/route.go", "app/(b)/x/route.go", "conflict"}},
		{"different parameter names", map[string]string{"app/u/[id]/route.go": getHandler, "app/u/[slug]/route.go": getHandler},
			[]string{"app/u/[id]/route.go", "app/u/[slug]/route.go", "different parameter names"}},
		{"optional catch-all and parent", map[string]string{"app/docs/route.go": getHandler, "app/docs/[[...slug]]/route.go": getHandler},
			[]string{"app/docs/route.go", "app/docs/[[...slug]]/route.go", "optional catch-all"}},
		{"catch-all not last", map[string]string{"app/f/[...p]/x/route.go": getHandler},
			[]string{"app/f/[...p]/x/route.go", "must be the last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(writeTree(t, tt.files))
			if err == nil {
				t.Fatal("Discover succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPatternFor(t *testing.T) {
	tests := []struct{ rel, want string }{
		{".", "/"},
		{"api/hello", "/api/hello"},
		{"(group)/api/[id]", "/api/[id]"},
		{"api/(g)/x/(h)", "/api/x"},
	}
	for _, tt := range tests {
		if got := PatternFor(tt.rel); got != tt.want {
			t.Errorf("PatternFor(%q) = %q, want %q", tt.rel, got, tt.want)
		}
	}
}

func TestAssignIDsUnique(t *testing.T) {
	routes := []*Route{{Pattern: "/"}, {Pattern: "/api/users/[id]"}, {Pattern: "/api/users/id"}, {Pattern: "/api/users/(id)"}}
	assignIDs(routes)
	seen := map[string]bool{}
	for _, r := range routes {
		if seen[r.ID] || !strings.HasPrefix(r.ID, "r_") {
			t.Fatalf("bad or duplicate ID %q in %v", r.ID, routes)
		}
		seen[r.ID] = true
	}
}

func TestMainSource(t *testing.T) {
	mwFunc := &Route{ID: "m_middleware", Middleware: true, Pattern: "middleware", Methods: map[string]HandlerKind{"Middleware": FuncHandler}}
	mwVar := &Route{ID: "m_middleware", Middleware: true, Pattern: "middleware", Methods: map[string]HandlerKind{"Middleware": VarHandler}}
	mixed := &Route{ID: "r_x", Pattern: "/x", Source: "app/x/route.go", Methods: map[string]HandlerKind{"GET": FuncHandler, "POST": VarHandler}}
	onlyVars := &Route{ID: "r_v", Pattern: "/v", Methods: map[string]HandlerKind{"GET": VarHandler}}
	served := []*Route{mixed, onlyVars}
	tests := []struct {
		name    string
		routes  []int
		mw      *Route
		want    []string
		notWant []string
	}{
		{"every route by its index", []int{0, 1}, nil,
			[]string{`r0 "m/wasmroute_gen/r_x/route"`, `r1 "m/wasmroute_gen/r_v/route"`,
				`guest.Handle(0, "GET", http.HandlerFunc(r0.GET))`, `guest.Handle(0, "POST", guest.HandlerFrom("app/x/route.go", "POST", r0.POST))`,
				`guest.Handle(1, "GET", guest.HandlerFrom("", "GET", r1.GET))`, "func main() {}"},
			[]string{"HandleMiddleware"}},
		{"a group keeps the manifest's indices", []int{1}, nil,
			[]string{`guest.Handle(1, "GET", guest.HandlerFrom("", "GET", r1.GET))`}, []string{`"net/http"`, "r0"}},
		{"middleware linked in", []int{1}, mwFunc,
			[]string{`middleware "m/wasmroute_gen/m_middleware/route"`, `guest.HandleMiddleware(http.HandlerFunc(middleware.Middleware))`, `"net/http"`}, nil},
		{"a middleware var", []int{1}, mwVar,
			[]string{`guest.HandleMiddleware(guest.HandlerFrom("", "Middleware", middleware.Middleware))`}, []string{`"net/http"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := mainSource("m", served, &group{name: "app", routes: tt.routes}, tt.mw)
			if _, err := parser.ParseFile(token.NewFileSet(), "main.go", src, 0); err != nil {
				t.Fatalf("generated main does not parse: %v\n%s", err, src)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(src), want) {
					t.Errorf("generated main lacks %q:\n%s", want, src)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(string(src), bad) {
					t.Errorf("generated main has %q:\n%s", bad, src)
				}
			}
		})
	}
}

func TestPlan(t *testing.T) {
	routes := []*Route{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	mw := &Route{ID: "m"}
	tests := []struct {
		name    string
		mw      *Route
		network map[string]bool
		want    []string // group name: route indices
	}{
		{"one module", nil, nil, []string{"app:[0 1 2]"}},
		{"network routes apart", nil, map[string]bool{"b": true}, []string{"app:[0 2]", "net:[1]"}},
		{"all on the network", nil, map[string]bool{"a": true, "b": true, "c": true}, []string{"net:[0 1 2]"}},
		{"a middleware on the network takes every route", mw, map[string]bool{"m": true}, []string{"net:[0 1 2]"}},
		{"a plain middleware", mw, map[string]bool{"c": true}, []string{"app:[0 1]", "net:[2]"}},
	}
	for _, tt := range tests {
		var got []string
		for _, g := range plan(routes, tt.mw, tt.network) {
			got = append(got, fmt.Sprintf("%s:%v", g.name, g.routes))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: plan = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMuxPatterns(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/", []string{"/{$}"}},
		{"/api/hello", []string{"/api/hello"}},
		{"/api/users/[id]", []string{"/api/users/{id}"}},
		{"/api/files/[...path]", []string{"/api/files/{path...}"}},
		{"/api/docs/[[...slug]]", []string{"/api/docs", "/api/docs/{slug...}"}},
		{"/[[...all]]", []string{"/{$}", "/{all...}"}},
	}
	for _, tt := range tests {
		got, err := MuxPatterns(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MuxPatterns(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
