package build

import (
	"strings"
	"testing"
)

func TestNativeMainIncludesMiddleware(t *testing.T) {
	routes := []*Route{
		{Pattern: "/api/hello", ID: "r_api_hello", Methods: map[string]HandlerKind{"GET": FuncHandler}},
		{Pattern: "middleware", ID: "m_middleware", Middleware: true, Matcher: []string{"/api/:path*"}, Methods: map[string]HandlerKind{"Middleware": FuncHandler}},
	}
	src, err := nativeMain("example.com/app", routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`mux.Handle("GET /api/hello", http.HandlerFunc(r_api_hello.GET))`, `router.NewMatcher([]string{"/api/:path*"})`, "guest.HandlerOf(m_middleware.Middleware)"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("native main lacks %q:\n%s", want, src)
		}
	}
}
