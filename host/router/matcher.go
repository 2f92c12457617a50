package router

import (
	"fmt"
	"strings"
)

// Matcher decides which paths a middleware runs for, like the matcher in
// Next.js's middleware config. A pattern is a path whose segments are
// literal text, ":name" (one segment), ":name+" (one or more), or ":name*"
// or "*" (zero or more; last only): "/api/:path*" matches /api and
// everything under it.
type Matcher struct {
	patterns [][]string
}

// NewMatcher compiles patterns. No patterns match every path.
func NewMatcher(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for _, p := range patterns {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("matcher %q: must start with /", p)
		}
		segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
		if p == "/" {
			segs = nil
		}
		for i, s := range segs {
			repeat := s == "*" || (len(s) > 2 && s[0] == ':' && (s[len(s)-1] == '*' || s[len(s)-1] == '+') &&
				!strings.ContainsAny(s[1:len(s)-1], "*+:"))
			switch {
			case s == "":
				return nil, fmt.Errorf("matcher %q: empty segment", p)
			case !repeat && strings.ContainsAny(s, "*+"):
				return nil, fmt.Errorf("matcher %q: segment %q: write :name*, :name+ or *", p, s)
			case repeat && i != len(segs)-1:
				return nil, fmt.Errorf("matcher %q: %q must be the last segment", p, s)
			}
		}
		m.patterns = append(m.patterns, segs)
	}
	return m, nil
}

// Match reports whether a clean path matches any pattern.
func (m *Matcher) Match(path string) bool {
	if len(m.patterns) == 0 {
		return true
	}
	var segs []string
	if path != "/" {
		segs = strings.Split(strings.TrimPrefix(path, "/"), "/")
	}
	for _, p := range m.patterns {
		if matchSegs(p, segs) {
			return true
		}
	}
	return false
}

func matchSegs(pattern, segs []string) bool {
	for i, p := range pattern {
		switch {
		case p == "*" || (strings.HasPrefix(p, ":") && strings.HasSuffix(p, "*")):
			return true
		case strings.HasPrefix(p, ":") && strings.HasSuffix(p, "+"):
			return len(segs) > i
		case i >= len(segs):
			return false
		case strings.HasPrefix(p, ":"):
			// any one segment
		case p != segs[i]:
			return false
		}
	}
	return len(segs) == len(pattern)
}
