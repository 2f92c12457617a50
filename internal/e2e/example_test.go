package e2e

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
)

const (
	jsonType = "application/json"
	user42   = `{"id":"42","name":"User 42","email":"user42@example.com"}`
)

func TestExampleAPI(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		status       int
		wantHeader   map[string]string // "" means the header must be absent
		wantBody     string
	}{
		{name: "hello", method: "GET", path: "/api/hello", status: 200,
			wantHeader: map[string]string{"Content-Type": jsonType, "Content-Length": "25"},
			wantBody:   `{"message":"Hello World"}`},
		{name: "users page 2", method: "GET", path: "/api/users?page=2&limit=5", status: 200,
			wantHeader: map[string]string{"Content-Type": jsonType},
			wantBody: `{"data":[{"id":"6","name":"User 6","email":"user6@example.com"},{"id":"7","name":"User 7","email":"user7@example.com"},` +
				`{"id":"8","name":"User 8","email":"user8@example.com"},{"id":"9","name":"User 9","email":"user9@example.com"},` +
				`{"id":"10","name":"User 10","email":"user10@example.com"}],"page":2,"limit":5}`},
		{name: "users default page", method: "GET", path: "/api/users?limit=1", status: 200,
			wantBody: `{"data":[{"id":"1","name":"User 1","email":"user1@example.com"}],"page":1,"limit":1}`},
		{name: "users past the end", method: "GET", path: "/api/users?page=11&limit=5", status: 200,
			wantBody: `{"data":[],"page":11,"limit":5}`},
		{name: "users bad page", method: "GET", path: "/api/users?page=zero", status: 400,
			wantHeader: map[string]string{"Content-Type": jsonType},
			wantBody:   `{"error":"page must be >= 1 and limit between 1 and 100"}`},
		{name: "users bad limit", method: "GET", path: "/api/users?limit=0", status: 400,
			wantBody: `{"error":"page must be >= 1 and limit between 1 and 100"}`},
		{name: "create user missing email", method: "POST", path: "/api/users", body: `{"name":"Ada"}`, status: 400,
			wantBody: `{"error":"name and email are required"}`},
		{name: "create user invalid JSON", method: "POST", path: "/api/users", body: `{"name":`, status: 400,
			wantBody: `{"error":"invalid JSON body"}`},
		{name: "create user empty body", method: "POST", path: "/api/users", status: 400,
			wantBody: `{"error":"invalid JSON body"}`},
		{name: "user 42", method: "GET", path: "/api/users/42", status: 200,
			wantHeader: map[string]string{"Content-Type": jsonType},
			wantBody:   `{"data":` + user42 + `}`},
		{name: "user 1", method: "GET", path: "/api/users/1", status: 200,
			wantBody: `{"data":{"id":"1","name":"User 1","email":"user1@example.com"}}`},
		{name: "user 51 missing", method: "GET", path: "/api/users/51", status: 404,
			wantBody: `{"error":"User not found"}`},
		{name: "user 0 missing", method: "GET", path: "/api/users/0", status: 404, wantBody: `{"error":"User not found"}`},
		{name: "user abc missing", method: "GET", path: "/api/users/abc", status: 404, wantBody: `{"error":"User not found"}`},
		{name: "update user", method: "PUT", path: "/api/users/7", body: `{"name":"Grace"}`, status: 200,
			wantBody: `{"data":{"id":"7","name":"Grace","email":"user7@example.com"}}`},
		{name: "update missing user", method: "PUT", path: "/api/users/70", body: `{"name":"Grace"}`, status: 404,
			wantBody: `{"error":"User not found"}`},
		{name: "updated user stored", method: "GET", path: "/api/users/7", status: 200,
			wantBody: `{"data":{"id":"7","name":"Grace","email":"user7@example.com"}}`},
		{name: "delete user", method: "DELETE", path: "/api/users/7", status: 204,
			wantHeader: map[string]string{"Content-Type": "", "Content-Length": ""}, wantBody: ""},
		{name: "deleted user gone", method: "GET", path: "/api/users/7", status: 404, wantBody: `{"error":"User not found"}`},
		{name: "delete missing user", method: "DELETE", path: "/api/users/7", status: 404, wantBody: `{"error":"User not found"}`},
		{name: "search", method: "GET", path: "/api/search?query=hello&page=1&tag=news&tag=tech", status: 200,
			wantBody: `{"query":"hello","page":"1","allParams":{"query":"hello","page":"1","tag":"news"},"hasFilter":false,"tags":["news","tech"]}`},
		{name: "search with filter", method: "GET", path: "/api/search?filter=&query=a%20b", status: 200,
			wantBody: `{"query":"a b","page":"","allParams":{"filter":"","query":"a b"},"hasFilter":true,"tags":[]}`},
		{name: "catch-all", method: "GET", path: "/api/files/docs/readme.md", status: 200,
			wantBody: `{"fullPath":"docs/readme.md"}`},
		{name: "catch-all one segment", method: "GET", path: "/api/files/a", status: 200, wantBody: `{"fullPath":"a"}`},
		{name: "catch-all needs a segment", method: "GET", path: "/api/files", status: 404, wantBody: `{"error":"Not Found"}`},
		{name: "catch-all escaped slash is data", method: "GET", path: "/api/files/..%2F..%2Fetc%2Fpasswd", status: 200,
			wantBody: `{"fullPath":"../../etc/passwd"}`},
		{name: "optional catch-all empty", method: "GET", path: "/api/docs", status: 200, wantBody: `{"slug":[]}`},
		{name: "optional catch-all", method: "GET", path: "/api/docs/a/b", status: 200, wantBody: `{"slug":["a","b"]}`},
		{name: "route group", method: "GET", path: "/api/health", status: 200, wantBody: `{"status":"ok"}`},
		{name: "route group folder not in URL", method: "GET", path: "/(internal)/api/health", status: 404, wantBody: `{"error":"Not Found"}`},
		{name: "unknown path", method: "GET", path: "/api/nope", status: 404,
			wantHeader: map[string]string{"Content-Type": jsonType}, wantBody: `{"error":"Not Found"}`},
		{name: "root", method: "GET", path: "/", status: 404, wantBody: `{"error":"Not Found"}`},
		{name: "method not exported", method: "DELETE", path: "/api/hello", status: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD, OPTIONS", "Content-Type": jsonType},
			wantBody:   `{"error":"Method Not Allowed"}`},
		{name: "405 lists every method", method: "POST", path: "/api/users/1", status: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
			wantBody:   `{"error":"Method Not Allowed"}`},
		{name: "unknown method", method: "BREW", path: "/api/hello", status: 405,
			wantHeader: map[string]string{"Allow": "GET, HEAD, OPTIONS"}, wantBody: `{"error":"Method Not Allowed"}`},
		{name: "automatic OPTIONS", method: "OPTIONS", path: "/api/users", status: 204,
			wantHeader: map[string]string{"Allow": "GET, HEAD, POST, OPTIONS"}, wantBody: ""},
		{name: "HEAD from GET", method: "HEAD", path: "/api/users/42", status: 200,
			wantHeader: map[string]string{"Content-Type": jsonType, "Content-Length": "66"}, wantBody: ""},
		{name: "trailing slash redirects", method: "GET", path: "/api/hello/", status: 308,
			wantHeader: map[string]string{"Location": "/api/hello"}},
		{name: "trailing slash keeps query", method: "GET", path: "/api/users/?page=2", status: 308,
			wantHeader: map[string]string{"Location": "/api/users?page=2"}},
		{name: "double slash redirects", method: "GET", path: "/api//hello", status: 308,
			wantHeader: map[string]string{"Location": "/api/hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, tt.method, tt.path, tt.body, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			checkHeaders(t, resp, tt.wantHeader)
			if tt.status != 308 && body != tt.wantBody {
				t.Errorf("body = %s\n      want %s", body, tt.wantBody)
			}
		})
	}
}

// checkHeaders compares response headers; a wanted "" means absent. The
// client moves Content-Length into resp.ContentLength, so that is compared
// there.
func checkHeaders(t *testing.T, resp *http.Response, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, present := resp.Header.Get(k), len(resp.Header.Values(k)) > 0
		if k == "Content-Length" && v != "" {
			got = strconv.FormatInt(resp.ContentLength, 10)
		}
		switch {
		case v == "" && present:
			t.Errorf("header %s = %q, want it absent", k, got)
		case v != "" && got != v:
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestExampleStreamArrivesIncrementally(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	resp, err := http.Get(s.URL + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if resp.ContentLength != -1 {
		t.Fatalf("ContentLength = %d, want a streamed (chunked) body", resp.ContentLength)
	}
	rd := bufio.NewReader(resp.Body)
	var arrived []time.Time
	for i := 1; i <= 5; i++ {
		event := readEvent(t, rd)
		if want := "data: " + string(rune('0'+i)); event != want {
			t.Fatalf("event %d = %q, want %q", i, event, want)
		}
		arrived = append(arrived, time.Now())
	}
	if _, err := rd.ReadByte(); err == nil {
		t.Fatal("body continues after the fifth event")
	}
	// The handler sleeps 100 ms between events, 400 ms between the first
	// and the last. A buffered response would deliver all five together; a
	// streamed one cannot deliver the last before the first by less than
	// the sleeps between them (checked at half of that, since the guest
	// scheduler may wake a little early).
	if gap := arrived[4].Sub(arrived[0]); gap < 200*time.Millisecond {
		t.Fatalf("event 1 arrived only %v before event 5: the stream was buffered", gap)
	}
}

func readEvent(t *testing.T, rd *bufio.Reader) string {
	t.Helper()
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	if blank, err := rd.ReadString('\n'); err != nil || blank != "\n" {
		t.Fatalf("event not followed by a blank line: %q %v", blank, err)
	}
	return strings.TrimSuffix(line, "\n")
}

func TestExampleLogsEveryRequestOnce(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	s.do(t, "GET", "/api/users/42", "")
	s.do(t, "GET", "/api/missing", "")
	logs := s.logs.String()
	for _, want := range []string{
		`msg=request app=api request_id=`,
		`method=GET path=/api/users/42 route=/api/users/[id] status=200`,
		`method=GET path=/api/missing route="" status=404`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "msg=request "); n != 2 {
		t.Errorf("%d request lines for 2 requests:\n%s", n, logs)
	}
}
