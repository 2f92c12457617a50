package devlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLines(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"a request", func(l *slog.Logger) {
			l.Info("request", "request_id", "x", "method", "GET", "path", "/api/hello", "route", "/api/hello",
				"status", 200, "bytes", 12, "aborted", false, "duration", 3217*time.Microsecond)
		}, "GET /api/hello 200 in 3.2ms\n"},
		{"an aborted one", func(l *slog.Logger) {
			l.Warn("request", "method", "GET", "path", "/x", "status", 499, "aborted", true, "duration", time.Second)
		}, "GET /x 499 in 1s (aborted)\n"},
		{"another record", func(l *slog.Logger) {
			l.Warn("route saturated", "route", "/api/x", "waited", "5s")
		}, "WARN route saturated route=/api/x waited=5s\n"},
		{"a trace", func(l *slog.Logger) {
			l.Error("guest panic", "error", "boom", "trace", "main.f()\n\tapp/x/route.go:3")
		}, "ERROR guest panic error=boom\n    main.f()\n    \tapp/x/route.go:3\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		l := slog.New(New(&b, slog.LevelInfo)).With("app", "myapp")
		tt.log(l)
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	slog.New(New(&b, slog.LevelWarn)).Info("request", "status", 200)
	if strings.TrimSpace(b.String()) != "" {
		t.Errorf("below the level: %q", b.String())
	}
}
