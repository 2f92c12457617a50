package e2e

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

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
	big, bigType := multipartBody(t, "big", "big.bin", strings.Repeat("x", 5<<20))
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
