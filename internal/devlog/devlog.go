// Package devlog is the log format of `wasmroute dev`: short lines a person
// reads, such as "GET /api/hello 200 in 3ms", coloured on a terminal. The
// structured slog lines stay for `wasmroute start`.
package devlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Handler writes one short line per record.
type Handler struct {
	mu     *sync.Mutex
	out    io.Writer
	level  slog.Leveler
	colour bool
	attrs  []slog.Attr
}

// New returns a Handler writing to out at level, with colour if out is a
// terminal.
func New(out io.Writer, level slog.Leveler) *Handler {
	return &Handler{mu: &sync.Mutex{}, out: out, level: level, colour: isTerminal(out)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == ""
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

// WithGroup implements slog.Handler; groups are flattened.
func (h *Handler) WithGroup(string) slog.Handler { return h }

const (
	reset  = "\x1b[0m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
)

func (h *Handler) paint(colour, s string) string {
	if !h.colour {
		return s
	}
	return colour + s + reset
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]slog.Value{}
	var order []string
	add := func(a slog.Attr) bool {
		if a.Key == "app" {
			return true // one app in dev
		}
		if _, seen := attrs[a.Key]; !seen {
			order = append(order, a.Key)
		}
		attrs[a.Key] = a.Value
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	var b strings.Builder
	if r.Message == "request" {
		status := 0
		if v := attrs["status"]; v.Kind() == slog.KindInt64 {
			status = int(v.Int64())
		}
		var took time.Duration
		if v := attrs["duration"]; v.Kind() == slog.KindDuration {
			took = v.Duration()
		}
		aborted := attrs["aborted"].Kind() == slog.KindBool && attrs["aborted"].Bool()
		colour := green
		switch {
		case status >= 500:
			colour = red
		case status >= 400:
			colour = yellow
		case status >= 300:
			colour = cyan
		}
		str := func(k string) string {
			if v, ok := attrs[k]; ok {
				return v.String()
			}
			return ""
		}
		fmt.Fprintf(&b, "%s %s %s in %s", str("method"), str("path"),
			h.paint(colour, fmt.Sprint(status)), round(took))
		if aborted {
			b.WriteString(h.paint(yellow, " (aborted)"))
		}
	} else {
		level := r.Level.String()
		colour := dim
		switch {
		case r.Level >= slog.LevelError:
			colour = red
		case r.Level >= slog.LevelWarn:
			colour = yellow
		}
		b.WriteString(h.paint(colour, level) + " " + r.Message)
		for _, k := range order {
			v := attrs[k].String()
			if k == "trace" {
				continue
			}
			if strings.ContainsAny(v, " \t\"") {
				v = fmt.Sprintf("%q", v)
			}
			b.WriteString(h.paint(dim, " "+k+"=") + v)
		}
		if t, ok := attrs["trace"]; ok {
			b.WriteString("\n" + indent(t.String()))
		}
	}
	b.WriteString("\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.out, b.String())
	return err
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}
