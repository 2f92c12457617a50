package host

import (
	"fmt"
	"net/http"
	"strings"
)

// methodSet is a set of the HTTP methods a route can export, one bit each.
type methodSet uint8

const (
	methodGET methodSet = 1 << iota
	methodHEAD
	methodPOST
	methodPUT
	methodPATCH
	methodDELETE
	methodOPTIONS
)

// methodNames is in the order of the bits, which is also the order of Allow.
var methodNames = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

func methodBit(m string) methodSet {
	for i, name := range methodNames {
		if name == m {
			return 1 << i
		}
	}
	return 0
}

func parseMethods(names []string) (methodSet, error) {
	var s methodSet
	for _, n := range names {
		b := methodBit(n)
		if b == 0 {
			return 0, fmt.Errorf("unknown method %q", n)
		}
		s |= b
	}
	if s == 0 {
		return 0, fmt.Errorf("route exports no methods")
	}
	return s, nil
}

// serves reports whether a request with method m reaches the guest: an
// exported method, or HEAD when GET is exported.
func (s methodSet) serves(m methodSet) bool {
	return m != 0 && (s&m != 0 || (m == methodHEAD && s&methodGET != 0))
}

// allow is the Allow header: the exported methods, HEAD with GET, and OPTIONS,
// which the host answers when the route does not.
func (s methodSet) allow() string {
	if s&methodGET != 0 {
		s |= methodHEAD
	}
	s |= methodOPTIONS
	var names []string
	for i, name := range methodNames {
		if s&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// answerMethods is the stage after CORS: a method the route does not
// export gets 405 with Allow, and OPTIONS, unless exported, 204 with Allow,
// without entering the guest. It reports whether it answered.
func answerMethods(rec *recorder, r *http.Request, rt *route) bool {
	m := methodBit(r.Method)
	if rt.methods.serves(m) {
		return false
	}
	rec.Header().Set("Allow", rt.allow)
	if m == methodOPTIONS {
		rec.WriteHeader(http.StatusNoContent)
		return true
	}
	writeError(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
	return true
}
