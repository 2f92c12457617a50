package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/host"
)

// upstream is a loopback server guests fetch from. /hang answers only when
// the test ends.
func upstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		h(w, r)
	}))
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	return srv
}

func TestOutboundAllowlist(t *testing.T) {
	allowed := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from upstream %s", r.URL.Path)
	})
	other := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the guest reached a server not in allowed_outbound_hosts: %s", r.URL)
	})
	s := serve(t, faultyDir, host.Options{Env: map[string]string{"UPSTREAM": allowed.URL}})
	port := allowed.URL[strings.LastIndex(allowed.URL, ":")+1:]
	fetch := func(u string) string { return "/api/fetch?url=" + url.QueryEscape(u) }

	tests := []struct {
		name    string
		path    string
		status  int
		body    string // prefix or, with "~", a substring
		logLine string
	}{
		{"allowed host", fetch(allowed.URL + "/x"), 200, "hello from upstream /x", ""},
		{"address not listed", fetch(other.URL + "/"), 502, "~ermission denied",
			"route=/api/fetch op="},
		{"name not listed, though it resolves to a listed address", fetch("http://localhost:" + port + "/"), 502,
			"~ermission denied", "op=resolve address=localhost:" + port},
		{"cloud metadata", fetch("http://169.254.169.254/latest/meta-data/"), 502, "~ermission denied",
			"address=169.254.169.254:80"},
		{"listening", "/api/fetch?listen=1", 403, "listen: ", "address=:0 reason=\"guests cannot listen\""},
		{"silent upstream past MaxDuration", fetch(allowed.URL + "/hang"), 504, `{"error":"Gateway Timeout"}`,
			"guest exceeded its time limit"},
		{"healthy after all that", fetch(allowed.URL + "/y"), 200, "hello from upstream /y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, "GET", tt.path, "")
			ok := strings.HasPrefix(body, tt.body)
			if sub, found := strings.CutPrefix(tt.body, "~"); found {
				ok = strings.Contains(body, sub)
			}
			if resp.StatusCode != tt.status || !ok {
				t.Fatalf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
			if tt.logLine != "" && !strings.Contains(s.logs.String(), tt.logLine) {
				t.Fatalf("log lacks %q:\n%s", tt.logLine, s.logs)
			}
		})
	}
	denied := regexp.MustCompile(`msg="outbound network denied" app=faulty request_id=\S+ route=/api/fetch op=resolve address=` +
		regexp.QuoteMeta(other.Listener.Addr().String()) + ` reason="not in allowed_outbound_hosts"`)
	if !denied.MatchString(s.logs.String()) {
		t.Errorf("the denied address is not logged with app, route, request id and reason:\n%s", s.logs)
	}
}

func TestWeatherExample(t *testing.T) {
	up := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("format") != "j1" {
			http.Error(w, "want format=j1", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/Paris":
			fmt.Fprint(w, `{"current_condition":[{"temp_C":"12","weatherDesc":[{"value":"Sunny"}]}],"nearest_area":[]}`)
		case "/Garbage":
			fmt.Fprint(w, `<html>`)
		default:
			http.NotFound(w, r)
		}
	})
	s := serve(t, exampleDir, host.Options{Env: map[string]string{"WEATHER_URL": up.URL}})
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/api/weather?city=Paris", 200, `{"city":"Paris","tempC":12,"description":"Sunny"}`},
		{"/api/weather", 400, `{"error":"city is required"}`},
		{"/api/weather?city=Atlantis", 404, `{"error":"city not found"}`},
		{"/api/weather?city=Garbage", 502, `{"error":"weather upstream answered 200 OK"}`},
	}
	for _, tt := range tests {
		resp, body := s.do(t, "GET", tt.path, "")
		if resp.StatusCode != tt.status || body != tt.body || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s %q, want %d %s", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.body)
		}
	}
}
