// Package tck is the conformance kit of the wasmroute ABI. It checks, over
// real HTTP, that a host and a guest speak the contract of abi/README.md:
// the request head, request bodies streamed into the guest, responses
// whole or streamed with flushes, the status and header rules the host
// enforces, and the error codes of the host functions.
//
// A guest under test implements the conformance routes, Routes, in the
// order given (their index is the route index the host passes); a host
// under test serves a guest that does. The kit's own guest (package
// abi/tck/guest) calls the host functions directly, without the Go SDK:
// served by any host, it tests that host. Served by wasmroute's host, any
// guest that implements Routes can prove that it speaks the ABI. Run
// drives either over HTTP.
package tck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/abi"
)

// Route is one conformance route.
type Route struct {
	// Pattern is the route in folder syntax, as in a manifest.
	Pattern string
	// Methods it exports.
	Methods []string
	// Spec says what the guest must do.
	Spec string
}

// Routes are the conformance routes, in manifest order.
var Routes = []Route{
	{"/tck/echo", []string{"POST"}, "Streams the request body back as the response body with status 200, " +
		"reading it in pieces of at most 1000 bytes and writing each as it arrives (write_response_head, then " +
		"write_body per piece). Copies every request header whose name starts with X-Tck- to the response. " +
		"Sets X-Tck-Content-Length to the content length the head announced (-1 when unknown). " +
		"If read_body fails, answers nothing more and returns; the host answers."},
	{"/tck/head/[...rest]", []string{"GET", "DELETE"}, "Answers 200 with a JSON object (respond): method, uri, " +
		"proto, host, contentLength, params (the name/value pairs of the head), and header (the pairs)."},
	{"/tck/respond/[status]", []string{"GET"}, "Answers the status in the path with respond, and the body " +
		"\"status N\" unless the status forbids a body (1xx, 204, 304). With ?header=NAME:VALUE (repeatable) " +
		"it sets those headers, whatever they are; the host applies its rules."},
	{"/tck/stream", []string{"GET"}, "Streams ?n= lines (default 3) \"line i\\n\": write_response_head with " +
		"status 200 and no Content-Length, then each line with write_body and flush."},
	{"/tck/errors", []string{"GET"}, "Raw-ABI guests only (Options.RawABI): calls the host functions wrongly " +
		"and answers, as JSON, the result of each: writeBodyBeforeHead (write_body before any head), " +
		"badHead (write_response_head with the bytes \"\\xff\\xff\"), shortHeadBuffer (read_request_head with a " +
		"buffer of 1 byte: the head's length, nothing copied), then after a good head secondHead " +
		"(write_response_head again) and respondAfterHead (respond)."},
	{"/tck/cache", []string{"GET", "POST"}, "GET answers 200 with a body no earlier answer had (a counter), and " +
		"the headers Cache-Control: s-maxage=60 and X-Wasmroute-Cache-Tag: tck (abi.CacheTagHeader). POST calls, " +
		"in order, revalidate_tag(\"tck\"), revalidate_path(\"/tck/cache\"), expire_tag(\"tck\"), " +
		"revalidate_tag(\"\"), revalidate_tag of 257 bytes and revalidate_path(\"tck\"), and answers their " +
		"results as a JSON object: tag, path, expire, empty, long, relative (an SDK maps its errors back to " +
		"the codes)."},
}

// Options say what the guest under test can do.
type Options struct {
	// RawABI is set for a guest that implements /tck/errors by calling the
	// host functions directly. Guests built on an SDK cannot misuse them.
	RawABI bool
	// Cache is set when the host keeps a response cache: the kit then
	// checks tagged responses, hits, and the revalidation functions.
	Cache bool
	// Client sends the requests; nil means a client with a 30 s timeout.
	Client *http.Client
}

// Run checks the host at baseURL, serving a guest that implements Routes,
// and reports each failure through t.
func Run(t *testing.T, baseURL string, opts Options) {
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	do := func(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, baseURL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		return resp, string(b)
	}

	t.Run("request head", func(t *testing.T) {
		resp, body := do(t, "GET", "/tck/head/a/b%20c?x=1&y=%C3%A9", nil, "X-Tck-One", "1", "X-Tck-One", "2")
		var got struct {
			Method, URI, Proto, Host string
			ContentLength            int64
			Params, Header           []string
		}
		if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%d %q %v", resp.StatusCode, body, err)
		}
		if got.Method != "GET" || got.URI != "/tck/head/a/b%20c?x=1&y=%C3%A9" || got.Proto != "HTTP/1.1" || got.Host == "" || got.ContentLength != 0 {
			t.Errorf("head %+v", got)
		}
		if strings.Join(got.Params, "=") != "rest=a/b c" {
			t.Errorf("params %q, want rest=a/b c", got.Params)
		}
		var ones []string
		for i := 0; i+1 < len(got.Header); i += 2 {
			if got.Header[i] == "X-Tck-One" {
				ones = append(ones, got.Header[i+1])
			}
		}
		if strings.Join(ones, ",") != "1,2" {
			t.Errorf("repeated header reached the guest as %q in %q", ones, got.Header)
		}
	})

	t.Run("request body streams in", func(t *testing.T) {
		for _, size := range []int{0, 1, 999, 1000, 1001, 100_000} {
			want := strings.Repeat("0123456789", size/10+1)[:size]
			resp, body := do(t, "POST", "/tck/echo", strings.NewReader(want), "X-Tck-Tag", "t"+strconv.Itoa(size))
			if resp.StatusCode != 200 || body != want {
				t.Errorf("%d bytes: %d, %d bytes back", size, resp.StatusCode, len(body))
			}
			if resp.Header.Get("X-Tck-Tag") != "t"+strconv.Itoa(size) || resp.Header.Get("X-Tck-Content-Length") != strconv.Itoa(size) {
				t.Errorf("%d bytes: headers %v", size, resp.Header)
			}
		}
		// A body of unknown length (chunked on the wire).
		pr, pw := io.Pipe()
		go func() {
			for i := range 5 {
				fmt.Fprintf(pw, "piece %d;", i)
			}
			pw.Close()
		}()
		resp, body := do(t, "POST", "/tck/echo", pr)
		if resp.StatusCode != 200 || body != "piece 0;piece 1;piece 2;piece 3;piece 4;" || resp.Header.Get("X-Tck-Content-Length") != "-1" {
			t.Errorf("chunked: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})

	t.Run("response streams out with flushes", func(t *testing.T) {
		req, _ := http.NewRequest("GET", baseURL+"/tck/stream?n=4", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
			t.Errorf("a streamed response: %d, length %d, encoding %v", resp.StatusCode, resp.ContentLength, resp.TransferEncoding)
		}
		r := bufio.NewReader(resp.Body)
		for i := range 4 {
			line, err := r.ReadString('\n')
			if err != nil || line != fmt.Sprintf("line %d\n", i) {
				t.Fatalf("line %d: %q %v", i, line, err)
			}
		}
		if rest, _ := io.ReadAll(r); len(rest) != 0 {
			t.Errorf("after the lines: %q", rest)
		}
	})

	t.Run("status and header rules", func(t *testing.T) {
		tests := []struct {
			name, query string
			status      int
			check       func(*http.Response, string) string
		}{
			{"201 with a body", "201", 201, bodyIs("status 201")},
			{"204 without", "204", 204, bodyIs("")},
			{"418", "418", 418, bodyIs("status 418")},
			{"a Content-Length of the guest's is replaced by the host's", "200?header=Content-Length:1000", 200, func(r *http.Response, b string) string {
				if r.ContentLength != int64(len("status 200")) || b != "status 200" {
					return fmt.Sprintf("length %d, body %q", r.ContentLength, b)
				}
				return ""
			}},
			{"Transfer-Encoding is the host's", "200?header=Transfer-Encoding:chunked", 500, nil},
			{"Connection is the host's", "200?header=Connection:close", 500, nil},
			{"an invalid header name", "200?header=Bad%20Name:x", 500, nil},
			{"101 is not the guest's", "101", 500, nil},
			{"a status below 100", "99", 500, nil},
			{"a status above 599", "600", 500, nil},
			{"repeated headers stay repeated", "200?header=X-Tck-A:1&header=X-Tck-A:2", 200, func(r *http.Response, _ string) string {
				if v := strings.Join(r.Header.Values("X-Tck-A"), ","); v != "1,2" {
					return "X-Tck-A: " + v
				}
				return ""
			}},
		}
		for _, tt := range tests {
			resp, body := do(t, "GET", "/tck/respond/"+tt.query, nil)
			if resp.StatusCode != tt.status {
				t.Errorf("%s: status %d %q, want %d", tt.name, resp.StatusCode, body, tt.status)
				continue
			}
			if tt.check != nil {
				if msg := tt.check(resp, body); msg != "" {
					t.Errorf("%s: %s", tt.name, msg)
				}
			}
		}
	})

	t.Run("methods come from the manifest", func(t *testing.T) {
		if resp, _ := do(t, "PUT", "/tck/stream", nil); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
			t.Errorf("PUT on a GET route: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		if resp, body := do(t, "HEAD", "/tck/respond/200", nil); resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD served by GET: %d %q", resp.StatusCode, body)
		}
	})

	if opts.Cache {
		t.Run("cache tags and revalidation", func(t *testing.T) {
			first, body1 := do(t, "GET", "/tck/cache", nil)
			again, body2 := do(t, "GET", "/tck/cache", nil)
			if first.Header.Get("X-Wasmroute-Cache") != "MISS" || again.Header.Get("X-Wasmroute-Cache") != "HIT" || body1 != body2 {
				t.Fatalf("GET twice: %s %q, then %s %q; want a MISS, then a HIT with the same body",
					first.Header.Get("X-Wasmroute-Cache"), body1, again.Header.Get("X-Wasmroute-Cache"), body2)
			}
			if first.Header.Get(abi.CacheTagHeader) != "" || again.Header.Get(abi.CacheTagHeader) != "" {
				t.Errorf("the cache tags reached the client")
			}
			resp, body := do(t, "POST", "/tck/cache", nil)
			var got map[string]int32
			if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil {
				t.Fatalf("%d %q %v", resp.StatusCode, body, err)
			}
			want := map[string]int32{"tag": 0, "path": 0, "expire": 0, "empty": abi.ErrTagInvalid, "long": abi.ErrTagInvalid, "relative": abi.ErrTagInvalid}
			for name, code := range want {
				if c, ok := got[name]; !ok || c != code {
					t.Errorf("%s returned %d (%v), want %d", name, c, ok, code)
				}
			}
			after, body3 := do(t, "GET", "/tck/cache", nil)
			if after.Header.Get("X-Wasmroute-Cache") != "MISS" || body3 == body1 {
				t.Errorf("GET after expire_tag: %s %q, want a MISS with a new body", after.Header.Get("X-Wasmroute-Cache"), body3)
			}
		})
	}

	if !opts.RawABI {
		return
	}
	t.Run("host function errors", func(t *testing.T) {
		resp, body := do(t, "GET", "/tck/errors", nil)
		var got map[string]int32
		if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%d %q %v", resp.StatusCode, body, err)
		}
		want := map[string]int32{"writeBodyBeforeHead": abi.ErrState, "badHead": abi.ErrInvalid,
			"secondHead": abi.ErrState, "respondAfterHead": abi.ErrState}
		for name, code := range want {
			if got[name] != code {
				t.Errorf("%s returned %d, want %d", name, got[name], code)
			}
		}
		if got["shortHeadBuffer"] <= 1 {
			t.Errorf("read_request_head with a short buffer returned %d, want the head's length", got["shortHeadBuffer"])
		}
	})
}

func bodyIs(want string) func(*http.Response, string) string {
	return func(_ *http.Response, body string) string {
		if body != want {
			return fmt.Sprintf("body %q, want %q", body, want)
		}
		return ""
	}
}
