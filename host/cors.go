package host

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/wasmroute/wasmroute/bundle"
)

// cors applies an app's CORS policy. The host answers preflight requests
// itself unless the route exports OPTIONS, and adds Access-Control-* headers
// to responses for allowed origins only.
type cors struct {
	anyOrigin   bool
	origins     map[string]bool
	methods     string // "" means the route's own methods
	headers     string // "" means whatever the preflight asks for
	exposed     string
	credentials bool
	maxAge      string
}

func newCORS(p *bundle.CORS) *cors {
	if p == nil {
		return nil
	}
	c := &cors{
		origins:     map[string]bool{},
		methods:     strings.Join(p.AllowedMethods, ", "),
		headers:     strings.Join(p.AllowedHeaders, ", "),
		exposed:     strings.Join(p.ExposedHeaders, ", "),
		credentials: p.AllowCredentials,
	}
	if p.MaxAge > 0 {
		c.maxAge = strconv.Itoa(p.MaxAge)
	}
	for _, o := range p.AllowedOrigins {
		if o == "*" {
			c.anyOrigin = true
		}
		c.origins[o] = true
	}
	return c
}

func (c *cors) allowed(origin string) bool { return c.anyOrigin || c.origins[origin] }

// allowOrigin sets Access-Control-Allow-Origin: "*" for a public policy
// without credentials, the origin itself otherwise.
func (c *cors) allowOrigin(h http.Header, origin string) {
	if c.anyOrigin && !c.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if c.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// handle applies the policy to a request for rt. It returns true when it
// answered the request itself (a preflight, or a refused one).
func (c *cors) handle(h *Host, w http.ResponseWriter, r *http.Request, rt *route, id string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" &&
		rt.methods&methodOPTIONS == 0
	if !c.allowed(origin) {
		if !preflight {
			return false // served, but the browser will not let the page read it
		}
		h.log.Warn("CORS preflight from a disallowed origin", slog.String("request_id", id),
			slog.String("route", rt.Pattern), slog.String("origin", origin))
		writeError(w, http.StatusForbidden, "Origin not allowed")
		return true
	}
	c.allowOrigin(hdr, origin)
	if !preflight {
		if c.exposed != "" {
			hdr.Set("Access-Control-Expose-Headers", c.exposed)
		}
		return false
	}
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	methods := c.methods
	if methods == "" {
		methods = rt.allow
	}
	hdr.Set("Access-Control-Allow-Methods", methods)
	if headers := c.headers; headers != "" {
		hdr.Set("Access-Control-Allow-Headers", headers)
	} else if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
		hdr.Set("Access-Control-Allow-Headers", asked)
	}
	if c.maxAge != "" {
		hdr.Set("Access-Control-Max-Age", c.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
