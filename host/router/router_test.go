package router

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

var examplePatterns = []string{
	"/api/hello",                  // 0
	"/api/users",                  // 1
	"/api/users/[id]",             // 2
	"/api/files/[...path]",        // 3
	"/api/docs/[[...slug]]",       // 4
	"/api/users/me",               // 5
	"/api/[section]/list",         // 6
	"/",                           // 7
	"/api/users/[id]/posts/[pid]", // 8
}

func TestMatch(t *testing.T) {
	table, err := New(examplePatterns)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		route  int
		params []string
	}{
		{"/api/hello", 0, nil},
		{"/api/users", 1, nil},
		{"/api/users/42", 2, []string{"id", "42"}},
		{"/api/users/me", 5, nil},
		{"/api/users/m%65", 5, nil},
		{"/api/users/a%2Fb", 2, []string{"id", "a/b"}},
		{"/api/users/%E2%82%AC", 2, []string{"id", "€"}},
		{"/api/users/42/posts/7", 8, []string{"id", "42", "pid", "7"}},
		{"/api/files/docs/readme.md", 3, []string{"path", "docs/readme.md"}},
		{"/api/files/a", 3, []string{"path", "a"}},
		{"/api/files", -1, nil},
		{"/api/docs", 4, []string{"slug", ""}},
		{"/api/docs/a/b", 4, []string{"slug", "a/b"}},
		{"/api/users/list", 2, []string{"id", "list"}},
		{"/api/hello/list", 6, []string{"section", "hello"}}, // backtracks from static hello
		{"/api/things/list", 6, []string{"section", "things"}},
		{"/", 7, nil},
		{"/nope", -1, nil},
		{"/api/hello/extra", -1, nil},
		{"/api/users/%zz", -1, nil},
		{"api/hello", -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			route, params, ok := table.Match(tt.path, nil)
			if ok != (tt.route >= 0) || (ok && route != tt.route) {
				t.Fatalf("Match(%q) = %d, %v; want %d", tt.path, route, ok, tt.route)
			}
			if ok && !reflect.DeepEqual(params, tt.params) {
				t.Fatalf("Match(%q) params = %q, want %q", tt.path, params, tt.params)
			}
		})
	}
}

func TestNewConflicts(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		want     string // substring of the error; "" for no error
	}{
		{"distinct", []string{"/a", "/a/[id]", "/a/[id]/b"}, ""},
		{"same static", []string{"/a/b", "/a/b"}, "both match the same URLs"},
		{"different param names", []string{"/a/[id]", "/a/[slug]"}, "different parameter names"},
		{"optional catch-all shadows parent", []string{"/docs", "/docs/[[...slug]]"}, "optional catch-all"},
		{"two catch-alls", []string{"/f/[...a]", "/f/[[...b]]"}, "catch all"},
		{"catch-all not last", []string{"/f/[...a]/b"}, "must be the last"},
		{"duplicate name", []string{"/f/[a]/[a]"}, "appears twice"},
		{"partial bracket", []string{"/f/x[a]"}, "whole segment"},
		{"empty name", []string{"/f/[]"}, "invalid parameter name"},
		{"relative", []string{"f"}, "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.patterns)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	var ce *ConflictError
	if _, err := New([]string{"/x", "/x"}); !errors.As(err, &ce) {
		t.Fatalf("conflict error has type %T, want *ConflictError", err)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/", "/"},
		{"/api/hello", "/api/hello"},
		{"/api/hello/", "/api/hello"},
		{"//api//hello", "/api/hello"},
		{"/api/./hello", "/api/hello"},
		{"/api/x/../hello", "/api/hello"},
		{"/../..", "/"},
		{"/.well-known/x", "/.well-known/x"},
		{"", "/"},
		{"/api/%2e%2e/x", "/x"},
		{"/api/%2E./x/%2e", "/x"},
		{"/api/.%2e%2e/x", "/api/.%2e%2e/x"},               // three dots is a name
		{"/api/files/a%2F..%2Fb", "/api/files/a%2F..%2Fb"}, // one segment, data
	}
	for _, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	table, err := New(examplePatterns)
	if err != nil {
		f.Fatal(err)
	}
	matcher, err := NewMatcher([]string{"/api/:path*", "/files/:rest+", "/exact"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"/api/users/42", "/api/files/../../etc/passwd", "/api/files/a%2F..%2Fb", "//x",
		"/api/docs/ü/€", "/%", "/api/files/./a/", "/api/files/a//b", "/api/docs/%2e%2e/x", "/api/files/\\..\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		clean := Clean(path)
		if Clean(clean) != clean {
			t.Fatalf("Clean not idempotent: %q -> %q -> %q", path, clean, Clean(clean))
		}
		matcher.Match(clean)
		route, params, ok := table.Match(clean, nil)
		if !ok {
			return
		}
		if route < 0 || route >= len(examplePatterns) || len(params)%2 != 0 {
			t.Fatalf("Match(%q) = %d %q", clean, route, params)
		}
		// A path the host routes has no segment that means "here" or "up",
		// escaped or not: what a catch-all gets may contain "../" only as
		// the data of one segment ("a%2F..%2Fb" is a name, not a way up).
		for _, seg := range strings.Split(clean[1:], "/") {
			if u, err := url.PathUnescape(seg); clean != "/" && (seg == "" || err == nil && (u == "." || u == "..")) {
				t.Fatalf("Match(%q): segment %q", clean, seg)
			}
		}
	})
}

func TestMatcher(t *testing.T) {
	m, err := NewMatcher([]string{"/api/admin/:path*", "/api/users/:id", "/exact", "/files/:rest+"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"/api/admin", true}, {"/api/admin/x/y", true}, {"/api/administrator", false},
		{"/api/users/1", true}, {"/api/users", false}, {"/api/users/1/posts", false},
		{"/exact", true}, {"/exact/no", false},
		{"/files", false}, {"/files/a/b", true},
		{"/", false}, {"/api", false},
	}
	for _, tt := range tests {
		if got := m.Match(tt.path); got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	all, _ := NewMatcher(nil)
	if !all.Match("/anything") {
		t.Error("empty matcher must match everything")
	}
	for _, bad := range []string{"api", "/a/:x*/b", "/a//b", "/a/b*", "/a/*x"} {
		if _, err := NewMatcher([]string{bad}); err == nil {
			t.Errorf("NewMatcher(%q) accepted", bad)
		}
	}
}
