package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/host"
)

// smuggled is a request hidden in a request body: if the host reads it as a
// request of its own, a second response comes back.
const smuggled = "GET /api/ok HTTP/1.1\r\nHost: x\r\n\r\n"

// TestMalformedChunkedBodies sends chunked bodies that fail to parse, each
// followed by a request hidden in the body. The host must answer once, with
// 400 and Connection: close, and close the connection, so the hidden request
// is never served. A well-formed chunked body keeps the connection.
func TestMalformedChunkedBodies(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	head := "POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name, body string
		want       []string // status lines in order
		close      bool
	}{
		{"size not hex", "zz\r\n" + smuggled, []string{"HTTP/1.1 400"}, true},
		{"negative size", "-5\r\n" + smuggled, []string{"HTTP/1.1 400"}, true},
		{"size of 2^72", "1000000000000000000\r\n" + smuggled, []string{"HTTP/1.1 400"}, true},
		{"bare LF after data", "5\r\nhello\n0\r\n\r\n" + smuggled, []string{"HTTP/1.1 400"}, true},
		{"8 KB chunk extension", "5;" + strings.Repeat("a", 8<<10) + "\r\nhello\r\n0\r\n\r\n" + smuggled, []string{"HTTP/1.1 400"}, true},
		{"well formed, then a pipelined request", "5\r\nhello\r\n0\r\n\r\n" + smuggled, []string{"HTTP/1.1 200", "HTTP/1.1 200"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := rawRequest(t, s, head+tt.body)
			got := statusLine.FindAllString(out, -1)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("status lines %q, want %q; response:\n%s", got, tt.want, out)
			}
			if closes := strings.Contains(out, "Connection: close\r\n"); closes != tt.close {
				t.Fatalf("Connection: close sent = %v, want %v; response:\n%s", closes, tt.close, out)
			}
			if tt.close && !strings.Contains(out, `{"error":"Malformed request body"}`) {
				t.Fatalf("no error body:\n%s", out)
			}
		})
	}
	if !strings.Contains(s.logs.String(), `msg="malformed request body"`) {
		t.Fatalf("no log line for the malformed bodies:\n%s", s.logs)
	}
}

// dialRaw opens a connection to s for hand-written requests.
func dialRaw(t *testing.T, s *server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // a host that never answers fails the test
	return conn
}

// TestSlowClients holds a route's instances with clients that send their
// body too slowly or never read the response. Each is stopped at the
// request's time limit, with 408 or a cut stream and a log line, and the
// instances go back to serving.
func TestSlowClients(t *testing.T) {
	// The echo route has no time limit of its own: the host's 1 s applies.
	// The huge route's own is 2 s.
	s := serve(t, faultyDir, host.Options{MaxDuration: time.Second, MaxInstances: 2})
	if err := s.host.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Run("slow body", func(t *testing.T) {
		// Two clients promise 1000 bytes and send 5: both of the route's
		// instances wait on them.
		var conns []net.Conn
		for range 2 {
			conn := dialRaw(t, s)
			io.WriteString(conn, "POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello")
			conns = append(conns, conn)
		}
		for i, conn := range conns {
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 408 || string(body) != `{"error":"Request Timeout"}` || !resp.Close {
				t.Fatalf("client %d: %d %s (close %v), want 408 and the connection closed", i, resp.StatusCode, body, resp.Close)
			}
		}
		if resp, body := s.do(t, "POST", "/api/echo", "after"); resp.StatusCode != 200 || body != "after" {
			t.Fatalf("route after the slow clients: %d %q", resp.StatusCode, body)
		}
		if !strings.Contains(s.logs.String(), `msg="client too slow sending the request body"`) {
			t.Fatalf("no log line:\n%s", s.logs)
		}
	})
	t.Run("response never read", func(t *testing.T) {
		conn := dialRaw(t, s)
		conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		io.WriteString(conn, "GET /api/huge?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n")
		waitFor(t, func() bool { return strings.Contains(s.logs.String(), `msg="client too slow reading the response"`) })
		waitFor(t, func() bool { st := stats(s, "/api/huge"); return st.Instances == st.Idle })
		if resp, body := s.do(t, "GET", "/api/huge?mb=1", ""); resp.StatusCode != 200 || len(body) != 1<<20 {
			t.Fatalf("route after the client: %d, %d bytes", resp.StatusCode, len(body))
		}
	})
}

// TestClientLeftWhileQueued checks that the request log tells the truth
// about a client that gave up before it was answered: status 499 and
// aborted, not 200.
func TestClientLeftWhileQueued(t *testing.T) {
	// One instance per route; a request asleep in the guest holds the huge
	// route's until its 2 s limit.
	s := serve(t, faultyDir, host.Options{MaxInstances: 1, QueueTimeout: time.Minute})
	if err := s.host.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := http.Get(s.URL + "/api/huge?sleep=1"); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { st := stats(s, "/api/huge"); return st.Instances-st.Idle == 1 })
	// The second request queues for the instance; its client leaves once
	// the request is on the wire.
	ctx, cancel := context.WithCancel(context.Background())
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { cancel() }})
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/huge?queued=1", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	waitFor(t, func() bool { return strings.Contains(s.logs.String(), "path=/api/huge route=/api/huge status=499") })
	if logs := s.logs.String(); !strings.Contains(logs, "path=/api/huge route=/api/huge status=499 bytes=0 aborted=true") {
		t.Fatalf("request log line:\n%s", logs)
	}
}

// TestResponseFraming checks that the host, not the guest, frames the
// response on the wire: a guest's Content-Length is replaced by the real
// one, headers that frame the connection and statuses outside 200-599 are
// refused with a 500 and a log line, 103 goes out as an interim response
// before the final one, and too many headers are refused.
func TestResponseFraming(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	const refused = `{"error":"Internal Server Error"}`
	tests := []struct {
		name, method, query string
		status              int
		length              string // the one Content-Length wanted; "" for none (chunked)
		body                string
		interim             string // an interim status line wanted before the final one
		log                 string
	}{
		{"two lengths", "GET", "two-lengths", 200, "3", "abc", "", ""},
		{"lying length", "GET", "lying-length", 200, "3", "abc", "", ""},
		{"whole response", "GET", "whole", 200, "10240", strings.Repeat("w", 10<<10), "", ""},
		{"HEAD of a whole response", "HEAD", "whole", 200, "10240", "", "", ""},
		{"streamed response", "GET", "streamed", 200, "", strings.Repeat("s", 20<<10), "", ""},
		{"Transfer-Encoding", "GET", "transfer-encoding", 500, "33", refused, "", `reason="response header \"Transfer-Encoding\" is the host's to set"`},
		{"Connection", "GET", "connection", 500, "33", refused, "", `reason="response header \"Connection\" is the host's to set"`},
		{"Upgrade", "GET", "upgrade", 500, "33", refused, "", `reason="response header \"Upgrade\" is the host's to set"`},
		{"Trailer", "GET", "trailer", 500, "33", refused, "", `reason="response header \"Trailer\" is the host's to set"`},
		{"status 101", "GET", "101", 500, "33", refused, "", `reason="status 101: the host owns the connection"`},
		{"status 999", "GET", "999", 500, "33", refused, "", `reason="status 999 is not a valid HTTP status"`},
		{"early hints", "GET", "early-hints", 200, "5", "final", "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n", ""},
		{"only early hints", "GET", "only-early-hints", 500, "33", refused, "HTTP/1.1 103 Early Hints\r\n\r\n", ""},
		{"10,000 headers", "GET", "many-headers", 500, "33", refused, "", `reason="response headers over 65536 bytes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dialRaw(t, s)
			io.WriteString(conn, tt.method+" /api/hostile?case="+tt.query+" HTTP/1.1\r\nHost: x\r\n\r\n")
			rd := bufio.NewReader(conn)
			if tt.interim != "" {
				got := make([]byte, len(tt.interim))
				if _, err := io.ReadFull(rd, got); err != nil || string(got) != tt.interim {
					t.Fatalf("interim response %q %v, want %q", got, err, tt.interim)
				}
			}
			req, _ := http.NewRequest(tt.method, "/", nil)
			resp, err := http.ReadResponse(rd, req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Fatalf("%d %.60q, want %d %.60q", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Values("Content-Length"); strings.Join(got, ",") != tt.length {
				t.Fatalf("Content-Length %q, want %q", got, tt.length)
			}
			if tt.length == "" && tt.method == "GET" && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
				t.Fatalf("streamed response framed as %q, want chunked", resp.TransferEncoding)
			}
			if tt.log != "" && !strings.Contains(s.logs.String(), tt.log) {
				t.Fatalf("log lacks %s:\n%s", tt.log, s.logs)
			}
		})
	}
}

// TestGuestLogBudget checks that a request printing 20,000 lines costs the
// log its budget (100 lines) and one record counting the rest.
func TestGuestLogBudget(t *testing.T) {
	s := serve(t, faultyDir, host.Options{})
	if resp, body := s.do(t, "GET", "/api/hostile?case=noisy", ""); resp.StatusCode != 200 || body != "said a lot" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	logs := s.logs.String()
	if n := strings.Count(logs, "noise "); n != 100 {
		t.Errorf("%d guest lines logged, want the budget of 100", n)
	}
	if !strings.Contains(logs, `msg="guest log lines suppressed" app=faulty request_id=`) || !strings.Contains(logs, "lines=19900") {
		t.Fatalf("no record of the suppressed lines:\n%.3000s", logs)
	}
}

// TestGoroutinesLeftBehind checks that a goroutine a handler leaves behind
// costs only its own request's instance, never the next request: one that
// spins or panics after the response is stopped within a moment and its
// instance discarded, one still waiting retires the instance, and one about
// to end does neither. The client of the guilty request keeps its response.
func TestGoroutinesLeftBehind(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MaxInstances: 1})
	tests := []struct {
		query, body string
		discarded   bool
		log         string
	}{
		{"spin-after", "spun", true, `msg="goroutines left by the request failed after its response; instance discarded"`},
		{"panic-after", "panicked", true, "boom after the response"},
		{"sleep-after", "slept", true, `msg="request left goroutines running; instance retired"`},
		{"handoff", "handed", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			before := stats(s, "/api/hostile").Discarded
			if resp, body := s.do(t, "GET", "/api/hostile?case="+tt.query, ""); resp.StatusCode != 200 || body != tt.body {
				t.Fatalf("guilty request: %d %q, want 200 %q", resp.StatusCode, body, tt.body)
			}
			// The next request on the route is served at once, not stuck
			// behind what the last one left.
			if resp, body := s.do(t, "GET", "/api/hostile?case=whole", ""); resp.StatusCode != 200 || len(body) != 10<<10 {
				t.Fatalf("next request: %d, %d bytes", resp.StatusCode, len(body))
			}
			if got := stats(s, "/api/hostile").Discarded > before; got != tt.discarded {
				t.Fatalf("instance discarded = %v, want %v", got, tt.discarded)
			}
			if tt.log != "" && !strings.Contains(s.logs.String(), tt.log) {
				t.Fatalf("log lacks %s:\n%s", tt.log, s.logs)
			}
		})
	}
}

// TestSocketHoarding checks the caps on guest sockets: one instance gets
// MaxSocketsPerInstance (then EMFILE), all guests together get what
// MaxGuestSockets allows (then ENFILE), each refusal is logged, and the
// sockets a request leaves open close with its instance, so the process's
// descriptors come back.
func TestSocketHoarding(t *testing.T) {
	tests := []struct {
		name string
		opts host.Options
		want string
	}{
		{"instance cap", host.Options{}, "opened 16, then errno 33"},
		// The warm instances of the two network routes (fetch, hostile)
		// hold 5 descriptors each.
		{"host cap", host.Options{MaxGuestSockets: 2*5 + 8}, "opened 8, then errno 41"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.MaxInstances = 1
			s := serve(t, faultyDir, tt.opts)
			if err := s.host.Warm(t.Context()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return stats(s, "/api/fetch").Idle == 1 && stats(s, "/api/hostile").Idle == 1 })
			s.do(t, "GET", "/api/ok", "") // the client's connection, kept alive
			fds := openFDs(t)
			for i := 0; i < 3; i++ {
				if resp, body := s.do(t, "GET", "/api/hostile?case=hoard", ""); resp.StatusCode != 200 || body != tt.want {
					t.Fatalf("round %d: %d %q, want %q", i, resp.StatusCode, body, tt.want)
				}
			}
			if !strings.Contains(s.logs.String(), `msg="outbound network denied"`) {
				t.Fatalf("no log line for the refused sockets:\n%s", s.logs)
			}
			// Each round's instance was retired with its sockets; the next
			// one starts in the background.
			waitFor(t, func() bool { return openFDs(t) <= fds })
		})
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd to count descriptors")
	}
	return len(entries)
}

// TestMemoryBudget holds requests that each allocate 100 MiB open at once,
// more than the host's memory budget allows. Those the budget cannot take
// get 503 with Retry-After and a log line; the rest are served whole, and
// once they end the memory is free for the next.
func TestMemoryBudget(t *testing.T) {
	s := serve(t, faultyDir, host.Options{MemoryBudget: 400 << 20, MaxInstances: 8})
	var writers []*io.PipeWriter
	var served []*http.Response
	refused := 0
	for i := 0; i < 8; i++ {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		resp, err := http.Post(s.URL+"/api/hostile?case=alloc&mb=100", "text/plain", pr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 503 {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != `{"error":"Service Unavailable"}` || resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("refused request: %s, Retry-After %q", body, resp.Header.Get("Retry-After"))
			}
			refused++
			continue
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != 200 || line != "allocated\n" {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, line, err)
		}
		served = append(served, resp)
	}
	if len(served) == 0 || refused == 0 || len(served) > 3 {
		t.Fatalf("%d requests served and %d refused; a 400 MiB budget holds one to three", len(served), refused)
	}
	for _, pw := range writers {
		pw.Close()
	}
	for _, resp := range served {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !strings.Contains(s.logs.String(), `msg="instance memory budget spent"`) {
		t.Fatalf("no log line:\n%s", s.logs)
	}
	// The instances that grew past RecycleMemory were retired: the budget
	// is free again.
	if resp, body := s.do(t, "POST", "/api/hostile?case=alloc&mb=100", "again"); resp.StatusCode != 200 || body != "allocated\nagain" {
		t.Fatalf("after the load: %d %q", resp.StatusCode, body)
	}
}
