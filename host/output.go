package host

import (
	"bytes"
	"context"
	"log/slog"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
)

// This file is where a guest's output goes: stdout, stderr and the log host
// function, a record per line, within a budget per request, so a guest that
// prints in a loop costs one line saying how much it printed.

// maxLogLine caps one guest log line; longer ones are cut.
const maxLogLine = 16 << 10

// logBudget counts a request's guest log lines against the host's limits
// (Options.MaxLogLines, Options.MaxLogBytes).
type logBudget struct {
	lines, bytes int
	// suppressed counts the lines and bytes past the budget.
	suppressedLines, suppressedBytes int
}

// allow reports whether a line of n bytes fits the budget, and counts it.
func (b *logBudget) allow(o *Options, n int) bool {
	if b.lines >= o.MaxLogLines || b.bytes+n > o.MaxLogBytes {
		b.suppressedLines++
		b.suppressedBytes += n
		return false
	}
	b.lines++
	b.bytes += n
	return true
}

// report logs how many of the request's lines were suppressed, if any.
func (b *logBudget) report(c *call) {
	if b.suppressedLines > 0 {
		c.h.log.LogAttrs(c, slog.LevelWarn, "guest log lines suppressed", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.Int("lines", b.suppressedLines), slog.Int("bytes", b.suppressedBytes),
			slog.Int("max_lines", c.h.opts.MaxLogLines), slog.Int("max_bytes", c.h.opts.MaxLogBytes))
	}
}

func logLine(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	c := callFrom(ctx)
	if c == nil {
		return
	}
	n = min(n, maxLogLine)
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		c.outOfBounds(abi.FuncLog, ptr, n)
		return
	}
	if !c.log.allow(&c.h.opts, len(buf)) {
		return
	}
	// A line's first line is the message; what follows is a trace (a
	// guest's panic), kept with it in one record.
	msg, trace, multi := strings.Cut(string(buf), "\n")
	attrs := []slog.Attr{slog.String("request_id", c.id), slog.String("route", c.route.Pattern), slog.String("source", "guest")}
	if multi && trace != "" {
		attrs = append(attrs, slog.String("trace", trace))
	}
	c.h.log.LogAttrs(c, slog.Level(level), msg, attrs...)
}

// guestOutput sends a guest's stdout or stderr to the log, a line at a time,
// tagged with the request being served.
type guestOutput struct {
	inst   *instance
	stream string
	buf    []byte
}

func (g *guestOutput) Write(p []byte) (int, error) {
	g.buf = append(g.buf, p...)
	for {
		i := bytes.IndexByte(g.buf, '\n')
		if i < 0 {
			break
		}
		g.emit(g.buf[:i])
		g.buf = g.buf[i+1:]
	}
	if len(g.buf) > maxLogLine {
		g.flush()
	}
	return len(p), nil
}

func (g *guestOutput) flush() {
	if len(g.buf) > 0 {
		g.emit(g.buf)
	}
	g.buf = g.buf[:0]
}

func (g *guestOutput) emit(line []byte) {
	line = line[:min(len(line), maxLogLine)]
	p := g.inst.pool
	budget := &g.inst.initLog
	attrs := []slog.Attr{slog.String("stream", g.stream)}
	if c := g.inst.cur; c != nil {
		budget = &c.log
		attrs = append(attrs, slog.String("route", c.route.Pattern), slog.String("request_id", c.id))
	} else {
		attrs = append(attrs, slog.String("module", p.module))
	}
	if !budget.allow(&p.h.opts, len(line)) {
		return
	}
	level := slog.LevelInfo
	if g.stream == "stderr" {
		level = slog.LevelWarn
	}
	p.h.log.LogAttrs(context.Background(), level, string(line), attrs...)
}
