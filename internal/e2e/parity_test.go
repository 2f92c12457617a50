package e2e

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
)

func TestRedirectRoute(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	for _, method := range []string{"GET", "HEAD"} {
		resp, _ := s.do(t, method, "/api/old", "")
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/api/hello" {
			t.Fatalf("%s /api/old = %d Location %q, want 307 /api/hello", method, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A client following the redirect lands on /api/hello.
	resp, err := http.Get(s.URL + "/api/old")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"message":"Hello World"}` {
		t.Fatalf("followed redirect: %s", b)
	}
}

// multipartBody builds a form with an optional file part.
func multipartBody(t *testing.T, title, filename, content string) (string, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if title != "" {
		mw.WriteField("title", title)
	}
	if filename != "" {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, content)
	}
	mw.Close()
	return b.String(), mw.FormDataContentType()
}

func TestUpload(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	full, fullType := multipartBody(t, "Quarterly report", "report.csv", strings.Repeat("a,b,c\n", 50000))
	noFile, noFileType := multipartBody(t, "no file", "", "")
	tests := []struct {
		name, body, contentType string
		status                  int
		want                    string
	}{
		{"file and title", full, fullType, 200, `{"filename":"report.csv","size":300000,"title":"Quarterly report"}`},
		{"no file", noFile, noFileType, 400, `{"error":"file is required"}`},
		{"truncated body", full[:len(full)/2], fullType, 400, `{"error":"expected a multipart/form-data body"}`},
		{"wrong content type", `{"file":"x"}`, "application/json", 400, `{"error":"expected a multipart/form-data body"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, "POST", "/api/upload", tt.body, "Content-Type", tt.contentType)
			if resp.StatusCode != tt.status || body != tt.want {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	// wasmroute.toml raises this route's limit to 8 MB.
	big, bigType := multipartBody(t, "big", "big.bin", strings.Repeat("x", 9<<20))
	if resp, body := s.do(t, "POST", "/api/upload", big, "Content-Type", bigType); resp.StatusCode != 413 || body != `{"error":"Request body too large"}` {
		t.Fatalf("oversized upload: %d %s", resp.StatusCode, body)
	}
}

func TestSessionCookies(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	resp, body := s.do(t, "POST", "/api/session", "")
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	setCookies := resp.Header.Values("Set-Cookie")
	if len(setCookies) != 2 {
		t.Fatalf("Set-Cookie headers = %q, want two", setCookies)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			session = c
		}
	}
	if session == nil || len(session.Value) != 32 || !session.HttpOnly || !session.Secure ||
		session.SameSite != http.SameSiteLaxMode || session.MaxAge != 3600 || session.Path != "/" {
		t.Fatalf("session cookie %+v (from %q)", session, setCookies)
	}
	if body != `{"session":"`+session.Value+`"}` {
		t.Fatalf("POST body %s", body)
	}

	resp, body = s.do(t, "GET", "/api/session", "", "Cookie", "theme=dark; session="+session.Value)
	if resp.StatusCode != 200 || body != `{"session":"`+session.Value+`"}` {
		t.Fatalf("GET with cookie: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "private, no-store" || resp.Header.Get("X-Session-Source") != "cookie" {
		t.Fatalf("custom headers did not pass through: %v", resp.Header)
	}
	for _, cookie := range []string{"", "theme=dark", `session="unterminated`, `session=ab\\cd`} {
		if resp, body := s.do(t, "GET", "/api/session", "", "Cookie", cookie); resp.StatusCode != 401 || body != `{"error":"No session"}` {
			t.Fatalf("GET with cookie %q: %d %s, want 401", cookie, resp.StatusCode, body)
		}
	}

	resp, _ = s.do(t, "DELETE", "/api/session", "")
	cleared := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != 204 || !strings.HasPrefix(cleared, "session=;") || !strings.Contains(cleared, "Max-Age=0") {
		t.Fatalf("DELETE: %d Set-Cookie %q", resp.StatusCode, cleared)
	}
}

func TestGenerateStreamsText(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	if resp, body := s.do(t, "POST", "/api/generate", `{"prompt":`); resp.StatusCode != 400 || body != `{"error":"prompt is required"}` {
		t.Fatalf("bad JSON: %d %s", resp.StatusCode, body)
	}
	resp, err := http.Post(s.URL+"/api/generate", "application/json", strings.NewReader(`{"prompt":"tell me a story"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || resp.ContentLength != -1 {
		t.Fatalf("Content-Type %q, ContentLength %d: want a streamed text body", ct, resp.ContentLength)
	}
	rd := bufio.NewReader(resp.Body)
	var words []string
	var arrived []time.Time
	for {
		w, err := rd.ReadString(' ')
		if w != "" {
			words = append(words, strings.TrimSpace(w))
			arrived = append(arrived, time.Now())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(words, " "); got != "You said: tell me a story" {
		t.Fatalf("stream = %q", got)
	}
	// Six tokens, 50 ms apart: a buffered reply would arrive at once.
	if gap := arrived[len(arrived)-1].Sub(arrived[0]); gap < 125*time.Millisecond {
		t.Fatalf("first and last token only %v apart: the reply was buffered", gap)
	}
}

// TestHandlersTestNatively runs the example app's own handler tests with the
// host's Go toolchain, as the README shows users doing: route packages and
// the guest SDK compile and behave outside WebAssembly.
func TestHandlersTestNatively(t *testing.T) {
	cmd := exec.Command("go", "test", "./app/api/session/", "./lib/...")
	cmd.Dir = exampleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in %s: %v\n%s", exampleDir, err, out)
	}
	if !strings.Contains(string(out), "ok  \texample.com/api/app/api/session") {
		t.Fatalf("route test did not run:\n%s", out)
	}
}

func TestAuthWrapperAndSecret(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	tests := []struct {
		name, auth string
		status     int
		want       string
	}{
		{"no header", "", 401, `{"error":"Unauthorized"}`},
		{"wrong token", "Bearer nope", 401, `{"error":"Unauthorized"}`},
		{"wrong scheme", "Basic test-token", 401, `{"error":"Unauthorized"}`},
		{"right token", "Bearer test-token", 200, `{"message":"Welcome to the private area","app":"wasmroute example"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			resp, body := s.do(t, "GET", "/api/private", "", hdr...)
			if resp.StatusCode != tt.status || body != tt.want {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
}

// TestGuestEnvironment checks that a guest sees exactly the variables its app
// declares, secrets resolved, and nothing of the host's environment.
func TestGuestEnvironment(t *testing.T) {
	t.Setenv("HOST_ONLY_VARIABLE", "must not leak")
	s := serve(t, faultyDir, host.Options{})
	if resp, body := s.do(t, "GET", "/api/env", ""); resp.StatusCode != 200 || body != "FOO=bar\nTOKEN=s3cret\nUPSTREAM=http://127.0.0.1:1" {
		t.Fatalf("guest environment = %d %q, want FOO, TOKEN and UPSTREAM only", resp.StatusCode, body)
	}
	// An operator may override a declared variable, and only a declared one.
	s = serve(t, faultyDir, host.Options{Env: map[string]string{"FOO": "overridden"}})
	if _, body := s.do(t, "GET", "/api/env", ""); !strings.HasPrefix(body, "FOO=overridden\n") {
		t.Fatalf("overridden environment = %q", body)
	}
	_, err := host.New(filepath.Join(faultyDir, bundle.DirName), host.Options{Env: map[string]string{"UNDECLARED": "x"},
		LookupSecret: testSecrets, CacheDir: cacheDir})
	if err == nil || !strings.Contains(err.Error(), "env UNDECLARED is not declared") {
		t.Fatalf("undeclared override: %v", err)
	}
}

func TestCORS(t *testing.T) {
	s := serve(t, exampleDir, host.Options{}) // allows http://localhost:5173 with credentials
	const allowed, other = "http://localhost:5173", "https://evil.example"
	tests := []struct {
		name       string
		method     string
		path       string
		header     []string
		status     int
		wantHeader map[string]string
	}{
		{"preflight, allowed origin", "OPTIONS", "/api/users", []string{"Origin", allowed, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"},
			204, map[string]string{"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS",
				"Access-Control-Allow-Headers": "Content-Type, Authorization", "Access-Control-Allow-Credentials": "true",
				"Access-Control-Max-Age": "600", "Vary": "Origin"}},
		{"preflight, other origin", "OPTIONS", "/api/users", []string{"Origin", other, "Access-Control-Request-Method", "POST"},
			403, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin", "Content-Type": "application/json"}},
		{"simple request, allowed origin", "GET", "/api/hello", []string{"Origin", allowed},
			200, map[string]string{"Access-Control-Allow-Origin": allowed, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}},
		{"simple request, other origin", "GET", "/api/hello", []string{"Origin", other},
			200, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{"no origin", "GET", "/api/hello", nil, 200, map[string]string{"Access-Control-Allow-Origin": "", "Vary": ""}},
		{"plain OPTIONS still lists methods", "OPTIONS", "/api/users", []string{"Origin", allowed},
			204, map[string]string{"Allow": "GET, HEAD, POST, OPTIONS", "Access-Control-Allow-Origin": allowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, tt.method, tt.path, "", tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			checkHeaders(t, resp, tt.wantHeader)
			if tt.status == 403 && body != `{"error":"Origin not allowed"}` {
				t.Fatalf("403 body %s", body)
			}
		})
	}

	// A public policy answers "*"; a route exporting OPTIONS answers its own
	// preflights.
	f := serve(t, faultyDir, host.Options{})
	resp, _ := f.do(t, "GET", "/api/ok", "", "Origin", other)
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("public policy: Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	resp, _ = f.do(t, "OPTIONS", "/api/preflight", "", "Origin", other, "Access-Control-Request-Method", "GET")
	if resp.StatusCode != 204 || resp.Header.Get("X-Custom-Preflight") != "yes" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("route's own OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestRequestBodyKinds(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	tests := []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"json", "application/json", `{"a":[1,2],"b":"<x>"}`, 200, `{"type":"json","data":{"a":[1,2],"b":"<x>"}}`},
		{"json with charset", "application/json; charset=utf-8", `"s"`, 200, `{"type":"json","data":"s"}`},
		{"malformed json", "application/json", `{"a":`, 400, `{"error":"invalid JSON body"}`},
		{"text", "text/plain; charset=utf-8", "héllo\nworld", 200, `{"type":"text","data":"héllo\nworld"}`},
		{"form", "application/x-www-form-urlencoded", "name=Ada+L&lang=go&lang=wasm", 200, `{"type":"form","data":{"lang":"go","name":"Ada L"}}`},
		{"malformed form", "application/x-www-form-urlencoded", "a=%zz", 400, `{"error":"invalid form body"}`},
		{"wrong content type", "image/png", "\x89PNG", 415, `{"error":"unsupported Content-Type image/png"}`},
		{"no content type", "", "x", 415, `{"error":"Content-Type is missing or malformed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.contentType != "" {
				hdr = []string{"Content-Type", tt.contentType}
			}
			resp, body := s.do(t, "POST", "/api/echo", tt.body, hdr...)
			if resp.StatusCode != tt.status || body != tt.want {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
}
