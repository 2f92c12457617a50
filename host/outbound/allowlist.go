// Package outbound decides which network addresses a guest may connect to:
// an app's allowed_outbound_hosts, parsed and matched the way Spin's manifest
// does it (host:port patterns with wildcards, or URLs).
package outbound

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Pattern is one allowed_outbound_hosts entry.
type Pattern struct {
	raw  string
	host string     // lower case; "" with anyHost
	ip   netip.Addr // valid when host is an IP literal
	// anyHost is "*"; subdomains is "*.example.com" (any name under
	// example.com, not example.com itself).
	anyHost, subdomains bool
	port                int // 0: any port
}

// String returns the entry as written.
func (p Pattern) String() string { return p.raw }

// Parse reads one entry. The forms are "host:port", where host may be "*",
// "*.example.com", a name or an IP literal ("[::1]" for IPv6) and port may be
// "*"; and a URL, "https://api.example.com" or "http://127.0.0.1:8787/path",
// whose port defaults from the scheme (80 for http, 443 for https) and whose
// path is ignored.
func Parse(entry string) (Pattern, error) {
	p := Pattern{raw: entry}
	hostport := strings.TrimSpace(entry)
	defaultPort := ""
	if scheme, rest, ok := strings.Cut(hostport, "://"); ok {
		u, err := url.Parse(strings.ToLower(scheme) + "://" + rest)
		if err != nil || u.Host == "" {
			return p, fmt.Errorf("allowed_outbound_hosts: %q is not a URL or host:port", entry)
		}
		switch u.Scheme {
		case "http":
			defaultPort = "80"
		case "https":
			defaultPort = "443"
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		if defaultPort == "" {
			return p, fmt.Errorf("allowed_outbound_hosts: %q needs a port (host:port, host:* or an http(s) URL)", entry)
		}
		host, port = strings.Trim(hostport, "[]"), defaultPort
	}
	switch {
	case port == "*":
	default:
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return p, fmt.Errorf("allowed_outbound_hosts: %q has an invalid port %q", entry, port)
		}
		p.port = n
	}
	host = strings.ToLower(host)
	switch {
	case host == "*":
		p.anyHost = true
	case strings.HasPrefix(host, "*."):
		p.subdomains, p.host = true, host[1:] // ".example.com"
		if !validName(host[2:]) {
			return p, fmt.Errorf("allowed_outbound_hosts: %q has an invalid host", entry)
		}
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			p.ip, p.host = ip.Unmap(), ip.Unmap().String()
		} else if validName(host) {
			p.host = host
		} else {
			return p, fmt.Errorf("allowed_outbound_hosts: %q has an invalid host", entry)
		}
	}
	return p, nil
}

// validName accepts DNS names: labels of letters, digits, '-' and '_'.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (p Pattern) portMatches(port int) bool { return p.port == 0 || p.port == port }

// Allowlist is a parsed allowed_outbound_hosts. The zero value allows nothing.
type Allowlist []Pattern

// ParseAll parses every entry, or returns the first error.
func ParseAll(entries []string) (Allowlist, error) {
	out := make(Allowlist, 0, len(entries))
	for _, e := range entries {
		p, err := Parse(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// AllowsName reports whether a guest may resolve and then connect to
// name:port. name may be an IP literal.
func (a Allowlist) AllowsName(name string, port int) bool {
	if port < 1 || port > 65535 {
		return false
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if ip, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return a.AllowsAddr(netip.AddrPortFrom(ip, uint16(port)))
	}
	for _, p := range a {
		if !p.portMatches(port) {
			continue
		}
		switch {
		case p.anyHost:
			return true
		case p.subdomains && strings.HasSuffix(name, p.host):
			return true
		case !p.ip.IsValid() && p.host == name:
			return true
		}
	}
	return false
}

// AllowsAddr reports whether an entry names this address itself: an IP
// literal, or "*". Addresses a guest got by resolving an allowed name are
// allowed by the caller, which remembers them.
func (a Allowlist) AllowsAddr(addr netip.AddrPort) bool {
	ip := addr.Addr().Unmap()
	for _, p := range a {
		if !p.portMatches(int(addr.Port())) {
			continue
		}
		if p.anyHost || (p.ip.IsValid() && p.ip == ip) {
			return true
		}
	}
	return false
}
