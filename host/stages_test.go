package host

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Unit tests for the request stages that answer without a guest; the e2e
// tests cover them over real HTTP.

func TestRedirectUnclean(t *testing.T) {
	tests := []struct{ target, want string }{
		{"/api/hello", ""},
		{"/api/hello/", "/api/hello"},
		{"/api//hello?x=1", "/api/hello?x=1"},
		{"/api/./a/../hello", "/api/hello"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", tt.target, nil)
		answered := redirectUnclean(&recorder{ResponseWriter: w}, r, r.URL.EscapedPath())
		if answered != (tt.want != "") || (answered && (w.Code != 308 || w.Header().Get("Location") != tt.want)) {
			t.Errorf("%s: answered %t, %d to %q; want %q", tt.target, answered, w.Code, w.Header().Get("Location"), tt.want)
		}
	}
}

func TestAnswerMethods(t *testing.T) {
	ms, _ := parseMethods([]string{"GET", "POST"})
	rt := &route{methods: ms, allow: ms.allow()}
	tests := []struct {
		method string
		status int // 0: not answered
	}{{"GET", 0}, {"HEAD", 0}, {"POST", 0}, {"PUT", 405}, {"OPTIONS", 204}, {"BREW", 405}}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		answered := answerMethods(&recorder{ResponseWriter: w}, httptest.NewRequest(tt.method, "/x", nil), rt)
		switch {
		case answered != (tt.status != 0):
			t.Errorf("%s: answered %t", tt.method, answered)
		case answered && (w.Code != tt.status || w.Header().Get("Allow") != "GET, HEAD, POST, OPTIONS"):
			t.Errorf("%s: %d Allow %q", tt.method, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestCheckLimits(t *testing.T) {
	h := &Host{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := &generation{maxURLLength: 32, maxHeaderBytes: 64}
	tests := []struct {
		name   string
		target string
		header string
		status int // 0: passes
	}{
		{"within", "/api/ok", "short", 0},
		{"long URL", "/" + strings.Repeat("a", 40), "", 414},
		{"large header", "/api/ok", strings.Repeat("h", 80), 431},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", tt.target, nil)
		r.Header.Set("X-Test", tt.header)
		ok := h.checkLimits(&recorder{ResponseWriter: w}, r, s, "id")
		if ok != (tt.status == 0) || (!ok && w.Code != tt.status) {
			t.Errorf("%s: passed %t, %d; want %d", tt.name, ok, w.Code, tt.status)
		}
	}
}

func TestCheckBody(t *testing.T) {
	h := &Host{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rt := &route{bodyLimit: 10}
	tests := []struct {
		name   string
		body   string
		length int64 // declared; -1: chunked
		status int   // 0: passes
		read   string
	}{
		{"no body", "", 0, 0, ""},
		{"within", "0123456789", 10, 0, "0123456789"},
		{"declared too large", strings.Repeat("x", 11), 11, 413, ""},
		{"chunked, cut at the limit", strings.Repeat("x", 20), -1, 0, strings.Repeat("x", 10)},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/x", strings.NewReader(tt.body))
		r.ContentLength = tt.length
		ok := h.checkBody(&recorder{ResponseWriter: w}, w, r, rt, "id")
		if ok != (tt.status == 0) || (!ok && (w.Code != tt.status || w.Header().Get("Connection") != "close")) {
			t.Errorf("%s: passed %t, %d %v; want %d", tt.name, ok, w.Code, w.Header(), tt.status)
			continue
		}
		if ok {
			got, _ := io.ReadAll(r.Body)
			if string(got) != tt.read {
				t.Errorf("%s: the guest reads %q, want %q", tt.name, got, tt.read)
			}
		}
	}
}

var _ http.Handler = (*Host)(nil)
