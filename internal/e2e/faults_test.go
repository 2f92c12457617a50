package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
)

const internalError = `{"error":"Internal Server Error"}`

// TestFaultyGuests checks that a guest that panics, deadlocks or traps gets a
// 500 with the standard error body and a log line, and that the route (and
// every other route) keeps serving.
func TestFaultyGuests(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 2})
	tests := []struct {
		path    string
		wantLog []string
	}{
		// The stack trace names the user's file, not the build's virtual one.
		{"/api/panic", []string{"panic serving request: boom", "faulty/app/api/panic/route.go:7"}},
		{"/api/deadlock", []string{"guest failed; instance discarded", "route=/api/deadlock"}},
		{"/api/trap", []string{"out of bounds memory access", "route=/api/trap"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			// More rounds than the route has instances: a fault must not use
			// up the pool.
			for round := 0; round < 4; round++ {
				resp, body := s.do(t, "GET", tt.path, "")
				if resp.StatusCode != 500 || body != internalError {
					t.Fatalf("round %d: %d %s, want 500 %s", round, resp.StatusCode, body, internalError)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type = %q", ct)
				}
				if resp.Header.Get("X-Before-Panic") != "" {
					t.Fatal("headers set before the panic leaked into the 500")
				}
				if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok ") {
					t.Fatalf("healthy route after fault: %d %q", resp.StatusCode, body)
				}
			}
			for _, want := range tt.wantLog {
				if logs := s.logs.String(); !strings.Contains(logs, want) {
					t.Fatalf("log lacks %q:\n%s", want, logs)
				}
			}
		})
	}
	// A panic is one record per request, with the trace in it, and the
	// trace holds the app's frames, not the runtime's or the SDK's.
	var panics []string
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "panic serving request") {
			panics = append(panics, line)
		}
	}
	if len(panics) != 4 {
		t.Fatalf("%d panic records for 4 panics:\n%s", len(panics), strings.Join(panics, "\n"))
	}
	if p := panics[0]; !strings.Contains(p, `trace="route.GET(`) || strings.Contains(p, "runtime/") || strings.Contains(p, "wasmroute/guest") {
		t.Errorf("the panic's trace: %s", p)
	}
}

// TestPanicKeepsInstance checks that a recovered panic does not cost the
// instance: its state survives (a counter in the ok route's module would reset
// on a new instance, so the panic route is probed through its own counter).
func TestPanicKeepsInstance(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 1})
	for i := 1; i <= 3; i++ {
		if _, body := s.do(t, "GET", "/api/ok", ""); body != fmt.Sprintf("ok %d", i) {
			t.Fatalf("request %d: body %q, want one instance counting up", i, body)
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, "ok route served 3") || !strings.Contains(logs, "stream=stderr") {
		t.Fatalf("guest stderr not logged with its route:\n%s", logs)
	}
}

// TestPanicAfterHeadAbortsStream checks that a panic after the response head
// was sent cuts the connection, so the client cannot mistake a partial body
// for a complete one.
func TestPanicAfterHeadAbortsStream(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	resp, err := http.Get(s.URL + "/api/panicmid")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read the whole body %q without error; want the stream cut", body)
	}
	if string(body) != "partial" {
		t.Fatalf("body before the cut = %q, want %q", body, "partial")
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("host stopped serving after an aborted stream")
	}
}

func TestHandlerVars(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	tests := []struct {
		method    string
		status    int
		body, hdr string
	}{
		{"GET", 200, "wrapped get", "yes"},
		{"POST", 202, "handler value", ""},
		{"DELETE", 204, "", ""},
	}
	for _, tt := range tests {
		resp, body := s.do(t, tt.method, "/api/vars", "")
		if resp.StatusCode != tt.status || body != tt.body || resp.Header.Get("X-Wrapped") != tt.hdr {
			t.Errorf("%s /api/vars = %d %q X-Wrapped=%q; want %d %q %q", tt.method, resp.StatusCode, body, resp.Header.Get("X-Wrapped"), tt.status, tt.body, tt.hdr)
		}
	}
}

func TestRequestBodyStreamsBothWays(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	for _, size := range []int{1, 4095, 16 << 10, 1 << 20, 4 << 20} {
		want := strings.Repeat("0123456789abcdef", size/16+1)[:size]
		resp, body := s.do(t, "POST", "/api/echo", want)
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("echo of %d bytes: status %d, got %d bytes back", size, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("X-Request-Content-Length"); got != fmt.Sprint(size) {
			t.Fatalf("guest saw ContentLength %s, want %d", got, size)
		}
	}
	// A chunked request body has no length.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 10; i++ {
			fmt.Fprintf(pw, "chunk %d;", i)
		}
		pw.Close()
	}()
	resp, err := http.Post(s.URL+"/api/echo", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;chunk 5;chunk 6;chunk 7;chunk 8;chunk 9;" || resp.Header.Get("X-Request-Content-Length") != "-1" {
		t.Fatalf("chunked echo = %q (length header %q)", b, resp.Header.Get("X-Request-Content-Length"))
	}
}

func TestRequestAsGuestSeesIt(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	resp, body := s.do(t, "PUT", "/api/echo?a=1&b=%20", "hello", "X-Test", "v")
	host := strings.TrimPrefix(s.URL, "http://")
	if want := "PUT /api/echo a=1&b=%20 " + host + " v 5"; resp.StatusCode != 200 || body != want {
		t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
	}
}

// rawRequest writes raw bytes to the server and returns what comes back
// until the server closes the connection.
func rawRequest(t *testing.T, s *server, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	b, _ := io.ReadAll(conn)
	return string(b)
}

var statusLine = regexp.MustCompile(`HTTP/1\.1 \d{3}`)

func TestMalformedRequests(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	tests := []struct {
		name, raw string
		want      []string // status lines in order
	}{
		{"garbage", "GARBAGE\r\n\r\n", []string{"HTTP/1.1 400"}},
		{"bad escape in path", "GET /api/%zz HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HTTP/1.1 400"}},
		{"body longer than Content-Length", "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloEXTRA-BYTES\r\n\r\n",
			[]string{"HTTP/1.1 200", "HTTP/1.1 400"}},
		{"body shorter than Content-Length", "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nhello",
			[]string{"HTTP/1.1 400"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rawRequest(t, s, tt.raw)
			got := statusLine.FindAllString(out, -1)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("status lines %q, want %q; response:\n%s", got, tt.want, out)
			}
		})
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("host stopped serving after malformed requests")
	}
}

// TestClientDisconnectMidStream checks that a client leaving in the middle
// of a streamed response costs nothing but that response.
func TestClientDisconnectMidStream(t *testing.T) {
	s := serve(t, exampleDir, host.Options{MaxInstances: 1})
	for i := 0; i < 2; i++ {
		resp, err := http.Get(s.URL + "/api/stream")
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: 1\n" {
			t.Fatalf("first event %q %v", line, err)
		}
		resp.Body.Close() // hang up with four events to go
	}
	if resp, body := s.do(t, "GET", "/api/hello", ""); resp.StatusCode != 200 || body != `{"message":"Hello World"}` {
		t.Fatalf("after disconnects: %d %s", resp.StatusCode, body)
	}
}

// TestUnreadBodyKeepsConnection sends requests whose bodies the handler never
// reads, each followed by another request on the same keep-alive connection.
// net/http's full-duplex mode, which the host enables for streaming, panics
// in this case unless the body is closed (golang/go#68560).
func TestUnreadBodyKeepsConnection(t *testing.T) {
	s := serve(t, exampleDir, host.Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	for i := 0; i < 200; i++ {
		for _, req := range []string{
			"PUT /api/users/70 HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n\r\n{\"name\":\"Grace\"}",
			"DELETE /api/users/7 HTTP/1.1\r\nHost: x\r\n\r\n",
		} {
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("round %d: write: %v", i, err)
			}
			resp, err := http.ReadResponse(rd, nil)
			if err != nil {
				t.Fatalf("round %d: %v (the server dropped the connection)", i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// TestBodyLimit checks the request body cap: a declared length over the
// limit is refused before the guest runs; a chunked body is cut off while the
// guest streams it; either way the client gets 413 with the standard body and
// the route keeps serving.
func TestBodyLimit(t *testing.T) {
	s := serve(t, faultyDir, host.Options{BodyLimit: 1000})
	const tooLarge = `{"error":"Request body too large"}`
	chunked := func(n int) io.Reader { return io.MultiReader(strings.NewReader(strings.Repeat("x", n))) }
	tests := []struct {
		name   string
		path   string
		body   io.Reader
		length int64 // -1: chunked
		status int
		want   string
	}{
		{"app limit, under", "/api/echo", strings.NewReader(strings.Repeat("a", 1000)), 1000, 200, strings.Repeat("a", 1000)},
		{"app limit, declared over", "/api/echo", strings.NewReader(strings.Repeat("a", 1001)), 1001, 413, tooLarge},
		{"app limit, chunked over", "/api/echo", chunked(5000), -1, 413, tooLarge},
		{"route limit, under", "/api/limited", strings.NewReader(strings.Repeat("a", 100)), 100, 200, "100"},
		{"route limit, declared over", "/api/limited", strings.NewReader(strings.Repeat("a", 101)), 101, 413, tooLarge},
		{"route limit, chunked over", "/api/limited", chunked(101), -1, 413, tooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.URL+tt.path, tt.body)
			req.ContentLength = tt.length
			if tt.length < 0 {
				req.TransferEncoding = []string{"chunked"}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || string(b) != tt.want {
				t.Fatalf("%d %.80s, want %d %.80s", resp.StatusCode, b, tt.status, tt.want)
			}
			if tt.status == 413 && resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("413 Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	if logs := s.logs.String(); !strings.Contains(logs, `msg="request body too large"`) {
		t.Fatalf("no log line for the refused bodies:\n%s", logs)
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("host stopped serving")
	}
}

// TestWriteAfterHandlerReturned checks that a goroutine writing to a
// response after its handler returned reaches no client: the write is
// refused and logged, and the response is what the handler wrote.
func TestWriteAfterHandlerReturned(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 1})
	for i := 0; i < 2; i++ {
		if resp, body := s.do(t, "GET", "/api/late", ""); resp.StatusCode != 200 || body != "early" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, "write to a response after its handler returned") {
		t.Fatalf("no log line for the late write:\n%s", logs)
	}
	// The goroutine ended, so the instance stays.
	if st := stats(s, "/api/late"); st.Discarded != 0 {
		t.Fatalf("instance discarded after a goroutine that ended: %+v", st)
	}
}

// TestMaxDuration checks the wall-clock limit: a guest that never returns is
// stopped at its route's MaxDuration with 504 (or a cut stream once the
// response started), its instance is replaced, and the route serves again.
func TestMaxDuration(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 1})
	const timeout = `{"error":"Gateway Timeout"}`
	for i := 0; i < 2; i++ {
		if resp, body := s.do(t, "GET", "/api/spin", ""); resp.StatusCode != 504 || body != timeout {
			t.Fatalf("round %d: %d %s, want 504 %s", i, resp.StatusCode, body, timeout)
		}
		if resp, body := s.do(t, "GET", "/api/spin?ok=1", ""); resp.StatusCode != 200 || body != "fine" {
			t.Fatalf("round %d: route after a timeout: %d %q", i, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(s.URL + "/api/spin?stream=1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "partial" || err == nil {
		t.Fatalf("timeout mid-stream: %d %q %v, want the stream cut after \"partial\"", resp.StatusCode, body, err)
	}
	if logs := s.logs.String(); !strings.Contains(logs, "guest exceeded its time limit") || !strings.Contains(logs, "max_duration=1s") {
		t.Fatalf("no log line for the timeout:\n%s", logs)
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("other routes stopped serving")
	}
}

// TestSaturatedRoute holds a route's only instance with a request in flight:
// the next request waits QueueTimeout, then gets 503 with Retry-After; other
// routes are unaffected and the held request completes.
func TestSaturatedRoute(t *testing.T) {
	// The hold route has max_instances = 1 in wasmroute.toml.
	s := serve(t, faultyDir, host.Options{QueueTimeout: 200 * time.Millisecond})
	pr, pw := io.Pipe()
	held, err := http.Post(s.URL+"/api/hold", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Body.Close()
	rd := bufio.NewReader(held.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("held request: %q %v", line, err)
	}
	resp, body := s.do(t, "POST", "/api/hold", "x")
	if resp.StatusCode != 503 || body != `{"error":"Service Unavailable"}` || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("saturated route: %d %s Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
		t.Fatal("other routes affected")
	}
	pw.Close()
	if rest, _ := io.ReadAll(rd); string(rest) != "done" {
		t.Fatalf("held request ended with %q", rest)
	}
	if !strings.Contains(s.logs.String(), `msg=saturated app=faulty request_id=`) || !strings.Contains(s.logs.String(), `cause="every instance is busy: the route's max_instances"`) {
		t.Fatalf("no log line:\n%s", s.logs)
	}
}

// TestRequestSizeLimits covers the URL (414) and header (431) limits: each
// answers in the product's error shape with a log line, and a request just
// under the limit is served.
func TestRequestSizeLimits(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxURLLength: 100})
	tests := []struct {
		name, path string
		header     []string
		status     int
		body, log  string
	}{
		{"long URL", "/api/ok?" + strings.Repeat("a", 100), nil, 414, `{"error":"URI Too Long"}`, `msg="URL too long"`},
		{"short URL", "/api/ok?a=1", nil, 200, "", ""},
		{"one huge header", "/api/ok", []string{"X-Big", strings.Repeat("b", 70<<10)}, 431,
			`{"error":"Request Header Fields Too Large"}`, `msg="request headers too large"`},
		{"many headers", "/api/ok", manyHeaders(100, 700), 431, `{"error":"Request Header Fields Too Large"}`, "limit=65536"},
		{"large but allowed headers", "/api/ok", manyHeaders(10, 1000), 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, "GET", tt.path, "", tt.header...)
			if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if tt.log != "" && !strings.Contains(s.logs.String(), tt.log) {
				t.Fatalf("log lacks %q:\n%s", tt.log, s.logs)
			}
		})
	}
}

// manyHeaders returns n header name/value pairs with values of size bytes.
func manyHeaders(n, size int) []string {
	var h []string
	for i := 0; i < n; i++ {
		h = append(h, fmt.Sprintf("X-H%d", i), strings.Repeat("v", size))
	}
	return h
}

// TestExitAndMemoryHog checks two more ways a guest can end itself: os.Exit
// and allocating past the app's memory_limit. Each is a 500 with a log
// line; the instance is replaced and other routes keep serving.
func TestExitAndMemoryHog(t *testing.T) {
	dir := copyBundle(t)
	editManifest(t, dir, func(m *bundle.Manifest) { m.App.MemoryLimit = 32 << 20 }) // memory_limit = "32MB"
	s := serveBundle(t, dir, host.Options{})
	for _, path := range []string{"/api/exit", "/api/hog"} {
		for i := 0; i < 2; i++ {
			if resp, body := s.do(t, "GET", path, ""); resp.StatusCode != 500 || body != internalError {
				t.Fatalf("%s round %d: %d %s", path, i, resp.StatusCode, body)
			}
			if resp, _ := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 {
				t.Fatalf("after %s: other routes stopped serving", path)
			}
		}
	}
	logs := s.logs.String()
	for _, want := range []string{"route=/api/exit", "route=/api/hog", "guest failed; instance discarded"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("log lacks %q:\n%s", want, logs)
		}
	}
	// The app's 32 MB limit stopped it, not the host's 128 MiB.
	m := regexp.MustCompile(`out of memory: cannot allocate \d+-byte block \((\d+) in use\)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no out-of-memory report from the guest:\n%s", logs)
	}
	if inUse, _ := strconv.Atoi(m[1]); inUse > 32<<20 {
		t.Fatalf("the hog had %d MiB in use, past its 32 MB limit", inUse>>20)
	}
}

// TestCloseOnContextDone stops a guest built without the loop countdown, as
// a module from another toolchain would be, through wazero's context check.
func TestCloseOnContextDone(t *testing.T) {
	s := serve(t, plainDir, host.Options{CloseOnContextDone: true})
	for i := 0; i < 2; i++ {
		if resp, body := s.do(t, "GET", "/api/spin", ""); resp.StatusCode != 504 || body != `{"error":"Gateway Timeout"}` {
			t.Fatalf("spinning guest: %d %s", resp.StatusCode, body)
		}
		if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("other route: %d %s", resp.StatusCode, body)
		}
	}
	if !strings.Contains(s.logs.String(), `msg="guest exceeded its time limit; instance discarded"`) {
		t.Fatalf("no log line:\n%s", s.logs)
	}
}

// TestAppLimits checks limits an app sets in wasmroute.toml for all its
// routes: URL length and header size (max_duration is TestCloseOnContextDone's).
func TestAppLimits(t *testing.T) {
	s := serve(t, plainDir, host.Options{})
	tests := []struct {
		name, path string
		header     []string
		status     int
	}{
		{"URL within 1KB", "/api/ok?" + strings.Repeat("a", 900), nil, 200},
		{"URL over 1KB", "/api/ok?" + strings.Repeat("a", 1100), nil, 414},
		{"headers within 2KB", "/api/ok", []string{"X-A", strings.Repeat("a", 1500)}, 200},
		{"headers over 2KB", "/api/ok", []string{"X-A", strings.Repeat("a", 2100)}, 431},
	}
	for _, tt := range tests {
		if resp, body := s.do(t, "GET", tt.path, "", tt.header...); resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.status)
		}
	}
}
