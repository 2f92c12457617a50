package guest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"struct", struct {
			A string `json:"a"`
		}{"x"}, `{"a":"x"}`},
		{"html characters kept", map[string]string{"q": "a<b && c>d"}, `{"q":"a<b && c>d"}`},
		{"escaped backslash before u003c", map[string]string{"q": `\u003c`}, `{"q":"\\u003c"}`},
		{"other escapes kept", map[string]string{"q": "line\n\"quote\"\u2028"}, `{"q":"line\n\"quote\"\u2028"}`},
		{"unicode", map[string]string{"q": "héllo €"}, `{"q":"héllo €"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			JSON(w, http.StatusCreated, tt.v)
			if w.Code != http.StatusCreated || w.Body.String() != tt.want || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("JSON = %d %q %q, want 201 %q", w.Code, w.Header().Get("Content-Type"), w.Body.String(), tt.want)
			}
			var back any
			if err := json.Unmarshal(w.Body.Bytes(), &back); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
		})
	}
	w := httptest.NewRecorder()
	JSON(w, http.StatusOK, func() {})
	if w.Code != 500 || w.Body.String() != `{"error":"Internal Server Error"}` {
		t.Fatalf("unencodable value: %d %s", w.Code, w.Body.String())
	}
}

func TestError(t *testing.T) {
	w := httptest.NewRecorder()
	Error(w, http.StatusNotFound, `no "such" <thing>`)
	if w.Code != 404 || w.Body.String() != `{"error":"no \"such\" <thing>"}` {
		t.Fatalf("Error = %d %s", w.Code, w.Body.String())
	}
}

func TestHandlerOf(t *testing.T) {
	called := 0
	fn := func(w http.ResponseWriter, r *http.Request) { called++ }
	for _, v := range []any{fn, http.HandlerFunc(fn), http.Handler(http.HandlerFunc(fn))} {
		HandlerOf(v).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
	if called != 3 {
		t.Fatalf("called %d times, want 3", called)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("HandlerOf(42) did not panic")
		}
	}()
	HandlerOf(42)
}

// FuzzJSONMatchesEncoder checks marshal against encoding/json's own
// non-HTML-escaping Encoder for arbitrary strings.
func FuzzJSONMatchesEncoder(f *testing.F) {
	for _, s := range []string{"", "<>&", `\u003c`, `\\u003c`, "\u2028", "\\", "a\\<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if want := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Fatalf("marshal(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestRedirect(t *testing.T) {
	tests := []struct {
		name   string
		fn     func(http.ResponseWriter, *http.Request, string)
		target string
		status int
		want   string
	}{
		{"temporary", Redirect, "/api/hello", 307, "/api/hello"},
		{"permanent", PermanentRedirect, "/api/new", 308, "/api/new"},
		{"relative", Redirect, "sibling", 307, "/api/sibling"},
		{"absolute", Redirect, "https://example.com/x", 307, "https://example.com/x"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		tt.fn(w, httptest.NewRequest("POST", "/api/old", nil), tt.target)
		if w.Code != tt.status || w.Header().Get("Location") != tt.want {
			t.Errorf("%s: %d Location %q, want %d %q", tt.name, w.Code, w.Header().Get("Location"), tt.status, tt.want)
		}
	}
}

// TestDispatch checks how a module finds a handler: by the route's index
// in the manifest, then the method, with HEAD served by GET.
func TestDispatch(t *testing.T) {
	routes = nil
	defer func() { routes = nil }()
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Handler", name) })
	}
	Handle(0, "GET", named("0 GET"))
	Handle(2, "POST", named("2 POST"))
	Handle(2, "HEAD", named("2 HEAD"))
	tests := []struct {
		route  uint32
		method string
		want   string // "" for no handler
		serves bool
	}{
		{0, "GET", "0 GET", true},
		{0, "HEAD", "0 GET", true},
		{0, "POST", "", true},
		{1, "GET", "", false}, // a hole: another module's route
		{2, "POST", "2 POST", true},
		{2, "HEAD", "2 HEAD", true},
		{2, "BREW", "", true},
		{3, "GET", "", false},
		{0xffffffff, "GET", "", false},
	}
	for _, tt := range tests {
		h := handlerFor(tt.route, tt.method)
		got := ""
		if h != nil {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, "/", nil))
			got = w.Header().Get("X-Handler")
		}
		if got != tt.want || serves(tt.route) != tt.serves {
			t.Errorf("route %d %s: handler %q, serves %t; want %q, %t", tt.route, tt.method, got, serves(tt.route), tt.want, tt.serves)
		}
	}
}

func TestRoute(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.PathValue("id") + "|" + r.PathValue("path") + "|" + r.PathValue("slug")))
	}
	tests := []struct {
		pattern, path string
		status        int
		body          string
	}{
		{"/api/users/[id]", "/api/users/42", 200, "42||"},
		{"/api/users/[id]", "/api/users/42/x", 404, ""},
		{"/api/files/[...path]", "/api/files/a/b", 200, "|a/b|"},
		{"/api/files/[...path]", "/api/files", 404, ""},
		{"/api/docs/[[...slug]]", "/api/docs", 200, "||"},
		{"/api/docs/[[...slug]]", "/api/docs/x/y", 200, "||x/y"},
		{"/(admin)/api/stats", "/api/stats", 200, "||"},
		{"/", "/", 200, "||"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		Route(tt.pattern, echo).ServeHTTP(w, httptest.NewRequest("GET", tt.path, nil))
		if w.Code != tt.status || (tt.status == 200 && w.Body.String() != tt.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.pattern, tt.path, w.Code, w.Body.String(), tt.status, tt.body)
		}
	}
}

func TestPanicTrace(t *testing.T) {
	stack := `goroutine 1 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
github.com/wasmroute/wasmroute/guest.(*responseWriter).recoverFrom(0x1, {0x2, 0x3})
	/src/guest/serve_wasip1.go:515 +0x4d
github.com/wasmroute/wasmroute/guest.serve.func1()
	/src/guest/serve_wasip1.go:205 +0x3b
panic({0x4, 0x5})
	/usr/local/go/src/runtime/panic.go:783 +0x132
example.com/app/lib/users.Find(...)
	/app/lib/users/users.go:12 +0x1c
example.com/app/wasmroute_gen/r_api_users_id/route.GET({0x6, 0x7}, 0x8)
	/app/app/api/users/[id]/route.go:9 +0x4a
net/http.HandlerFunc.ServeHTTP(0x9, {0x6, 0x7}, 0x8)
	/usr/local/go/src/net/http/server.go:2322 +0x29
github.com/wasmroute/wasmroute/guest.serve(0xa, 0xb, 0x0)
	/src/guest/serve_wasip1.go:210 +0x8a
`
	want := "example.com/app/lib/users.Find(...)\n\t/app/lib/users/users.go:12\nroute.GET({0x6, 0x7}, 0x8)\n\t/app/app/api/users/[id]/route.go:9"
	if got := panicTrace([]byte(stack)); got != want {
		t.Errorf("panicTrace:\n%s\nwant\n%s", got, want)
	}
}

func TestHandlerFrom(t *testing.T) {
	fn := func(http.ResponseWriter, *http.Request) {}
	for _, v := range []any{fn, http.HandlerFunc(fn), http.NotFoundHandler()} {
		if HandlerFrom("app/x/route.go", "GET", v) == nil {
			t.Errorf("%T: no handler", v)
		}
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "app/x/route.go: GET has type int; a handler is func(w http.ResponseWriter, r *http.Request)") {
			t.Fatalf("panic %v", p)
		}
	}()
	HandlerFrom("app/x/route.go", "GET", 42)
}
