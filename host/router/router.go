// Package router maps URL paths to routes with Next.js App Router semantics.
//
// A pattern is written the way the route's folder is named, with route groups
// already removed: "/api/users/[id]" (one segment), "/api/files/[...path]"
// (one or more segments) and "/api/docs/[[...slug]]" (zero or more). When
// several patterns match, a static segment wins over [name], which wins over
// [...name], which wins over [[...name]]. Catch-all values follow net/http's
// {name...} convention: the matched segments joined with "/".
//
// The build uses this package to reject conflicting route trees; the host uses
// it to route requests.
package router

import (
	"fmt"
	"net/url"
	"strings"
)

// Kind is the kind of one pattern segment.
type Kind uint8

// Segment kinds, from the most to the least specific.
const (
	Static           Kind = iota // "users"
	Param                        // "[id]"
	CatchAll                     // "[...path]"
	OptionalCatchAll             // "[[...slug]]"
)

// Segment is one "/"-separated element of a pattern.
type Segment struct {
	Kind  Kind
	Value string // the literal text of a Static segment, the name otherwise
}

// Parse splits a pattern into segments. The root pattern is "/".
func Parse(pattern string) ([]Segment, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("pattern %q: must start with /", pattern)
	}
	if pattern == "/" {
		return nil, nil
	}
	parts := strings.Split(pattern[1:], "/")
	segs := make([]Segment, 0, len(parts))
	names := map[string]bool{}
	for i, p := range parts {
		s, err := parseSegment(p)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", pattern, err)
		}
		if s.Kind != Static {
			if names[s.Value] {
				return nil, fmt.Errorf("pattern %q: parameter %q appears twice", pattern, s.Value)
			}
			names[s.Value] = true
		}
		if (s.Kind == CatchAll || s.Kind == OptionalCatchAll) && i != len(parts)-1 {
			return nil, fmt.Errorf("pattern %q: catch-all segment %q must be the last", pattern, p)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func parseSegment(p string) (Segment, error) {
	switch {
	case p == "":
		return Segment{}, fmt.Errorf("empty segment")
	case strings.HasPrefix(p, "[[...") && strings.HasSuffix(p, "]]"):
		return named(OptionalCatchAll, p, p[5:len(p)-2])
	case strings.HasPrefix(p, "[...") && strings.HasSuffix(p, "]"):
		return named(CatchAll, p, p[4:len(p)-1])
	case strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]"):
		return named(Param, p, p[1:len(p)-1])
	case strings.ContainsAny(p, "[]"):
		return Segment{}, fmt.Errorf("segment %q: brackets must enclose the whole segment, as in [id]", p)
	case p == "." || p == "..":
		return Segment{}, fmt.Errorf("segment %q is not allowed", p)
	}
	return Segment{Kind: Static, Value: p}, nil
}

func named(k Kind, seg, name string) (Segment, error) {
	if name == "" || strings.ContainsAny(name, "[]./{}") {
		return Segment{}, fmt.Errorf("segment %q: invalid parameter name %q", seg, name)
	}
	return Segment{Kind: k, Value: name}, nil
}

// ConflictError reports two patterns that claim the same URLs.
type ConflictError struct {
	Pattern, Other    string // the patterns
	Index, OtherIndex int    // their positions in the list given to New
	Reason            string
}

// Error says which two routes conflict and why.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("routes %q and %q conflict: %s", e.Other, e.Pattern, e.Reason)
}

// Table routes paths to the index of the pattern that matches them.
type Table struct {
	root     *node
	patterns []string
}

type node struct {
	route    int // index of the pattern ending here, or -1
	static   map[string]*node
	param    *node
	catchAll *node // a route whose last segment is [...name] or [[...name]]
	name     string
	optional bool // catchAll is [[...name]]
}

func newNode() *node { return &node{route: -1} }

// New builds a table. Route i is patterns[i]. Two patterns that match the same
// URLs are a *ConflictError.
func New(patterns []string) (*Table, error) {
	t := &Table{root: newNode(), patterns: patterns}
	for i, p := range patterns {
		segs, err := Parse(p)
		if err != nil {
			return nil, err
		}
		if err := t.insert(i, segs); err != nil {
			return nil, err
		}
	}
	// An optional catch-all also matches its parent path.
	var err error
	t.root.walk(func(n *node) {
		if err == nil && n.catchAll != nil && n.optional && n.route >= 0 {
			err = t.conflictError(n.catchAll.route, n.route, "an optional catch-all also matches the path without it")
		}
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) insert(route int, segs []Segment) error {
	n := t.root
	for _, s := range segs {
		switch s.Kind {
		case Static:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			child := n.static[s.Value]
			if child == nil {
				child = newNode()
				n.static[s.Value] = child
			}
			n = child
		case Param:
			if n.param == nil {
				n.param = newNode()
				n.param.name = s.Value
			} else if n.param.name != s.Value {
				return t.conflict(route, n.param, fmt.Sprintf("different parameter names at the same position (%q and %q)", n.param.name, s.Value))
			}
			n = n.param
		case CatchAll, OptionalCatchAll:
			if n.catchAll != nil {
				return t.conflict(route, n.catchAll, "both catch all segments at the same position")
			}
			n.catchAll = newNode()
			n.catchAll.name = s.Value
			n.optional = s.Kind == OptionalCatchAll
			n = n.catchAll
		}
	}
	if n.route >= 0 {
		return t.conflictError(route, n.route, "both match the same URLs")
	}
	n.route = route
	return nil
}

// conflict reports route against any pattern already under n.
func (t *Table) conflict(route int, n *node, reason string) error {
	other := -1
	n.walk(func(m *node) {
		if other < 0 && m.route >= 0 {
			other = m.route
		}
	})
	if other < 0 {
		other = route
	}
	return t.conflictError(route, other, reason)
}

func (t *Table) conflictError(route, other int, reason string) *ConflictError {
	return &ConflictError{Pattern: t.patterns[route], Other: t.patterns[other], Index: route, OtherIndex: other, Reason: reason}
}

func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, c := range n.static {
		c.walk(fn)
	}
	if n.param != nil {
		n.param.walk(fn)
	}
	if n.catchAll != nil {
		n.catchAll.walk(fn)
	}
}

// Match finds the route for an escaped URL path such as "/api/users/42". It
// appends the route's parameters to params as name/value pairs, with values
// unescaped, and returns the extended slice. ok is false when no route
// matches, or when the path is not valid escaping.
//
// The path must already be clean (see Clean): no empty, "." or ".." segments
// and no trailing slash.
func (t *Table) Match(path string, params []string) (route int, _ []string, ok bool) {
	if !strings.HasPrefix(path, "/") {
		return -1, params, false
	}
	rest := path[1:]
	route, params = t.root.match(rest, params)
	return route, params, route >= 0
}

func (n *node) match(rest string, params []string) (int, []string) {
	if rest == "" {
		if n.route >= 0 {
			return n.route, params
		}
		if n.catchAll != nil && n.optional {
			return n.catchAll.route, append(params, n.catchAll.name, "")
		}
		return -1, params
	}
	seg, tail, _ := strings.Cut(rest, "/")
	value, err := unescape(seg)
	if err != nil {
		return -1, params
	}
	if child := n.static[value]; child != nil {
		if r, p := child.match(tail, params); r >= 0 {
			return r, p
		}
	}
	if n.param != nil {
		if r, p := n.param.match(tail, append(params, n.param.name, value)); r >= 0 {
			return r, p
		}
	}
	if n.catchAll != nil {
		all, err := unescape(rest)
		if err != nil {
			return -1, params
		}
		return n.catchAll.route, append(params, n.catchAll.name, all)
	}
	return -1, params
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	return url.PathUnescape(s)
}

// Clean returns the canonical form of an escaped URL path: no trailing slash
// (except for "/"), no empty, "." or ".." segments. As in the WHATWG URL
// standard, "%2e" counts as a dot, so "%2e%2e" is a ".." segment. The host
// redirects a request whose path is not clean to its clean form, as Next.js
// does for a trailing slash.
func Clean(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && !strings.Contains(p, "%2") &&
		(len(p) == 1 || p[len(p)-1] != '/') {
		return p // fast path: already clean
	}
	var out []string
	for _, seg := range strings.Split(p[1:], "/") {
		switch dots(seg) {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// dots returns "." or ".." for a segment that is one or two dots, escaped or
// not, and the segment itself otherwise.
func dots(seg string) string {
	if len(seg) > 6 || !strings.ContainsAny(seg, ".%") {
		return seg
	}
	switch d := strings.ReplaceAll(strings.ReplaceAll(seg, "%2e", "."), "%2E", "."); d {
	case ".", "..":
		return d
	}
	return seg
}
