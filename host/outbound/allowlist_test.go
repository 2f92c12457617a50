package outbound

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, entry := range []string{
		"example.com",       // no port
		"example.com:http",  // port not a number
		"example.com:0",     // out of range
		"example.com:70000", // out of range
		"exa mple.com:80",   // bad name
		"*.:443",            // empty wildcard base
		"ftp://example.com", // no default port for the scheme
		"://nohost",         // not a URL
		"https://",          // no host
		"*example.com:443",  // wildcard not a whole label
		"http://[::1:8080",  // broken IPv6
		"",                  // empty
		"example..com:443",  // empty label
	} {
		if _, err := Parse(entry); err == nil {
			t.Errorf("Parse(%q) accepted a bad entry", entry)
		}
	}
}

func TestAllowsName(t *testing.T) {
	list, err := ParseAll([]string{
		"api.example.com:443",
		"*.svc.internal:*",
		"http://127.0.0.1:8787/v1/anything",
		"https://Weather.Example.org",
		"[::1]:9000",
		"localhost:6379",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		port int
		want bool
	}{
		{"api.example.com", 443, true},
		{"API.Example.com.", 443, true}, // case and trailing dot
		{"api.example.com", 80, false},  // other port
		{"example.com", 443, false},     // parent domain
		{"evil-api.example.com", 443, false},
		{"a.svc.internal", 1, true},
		{"a.b.svc.internal", 65535, true},
		{"svc.internal", 80, false}, // *.x does not match x
		{"127.0.0.1", 8787, true},
		{"127.0.0.1", 8788, false},
		{"weather.example.org", 443, true},
		{"weather.example.org", 80, false},
		{"::1", 9000, true},
		{"[::1]", 9000, true},
		{"localhost", 6379, true},
		{"127.0.0.2", 8787, false},
		{"169.254.169.254", 80, false}, // cloud metadata stays out
	}
	for _, tt := range tests {
		if got := list.AllowsName(tt.name, tt.port); got != tt.want {
			t.Errorf("AllowsName(%q, %d) = %v, want %v", tt.name, tt.port, got, tt.want)
		}
	}
}

func TestAllowsAddr(t *testing.T) {
	list, err := ParseAll([]string{"10.0.0.1:80", "*:8443", "api.example.com:443"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1:80", true},
		{"[::ffff:10.0.0.1]:80", true}, // IPv4-mapped IPv6 is the same host
		{"10.0.0.1:81", false},
		{"192.0.2.7:8443", true}, // "*" allows any address on its port
		{"192.0.2.7:443", false}, // a name's addresses come from resolving it
	}
	for _, tt := range tests {
		if got := list.AllowsAddr(netip.MustParseAddrPort(tt.addr)); got != tt.want {
			t.Errorf("AllowsAddr(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if (Allowlist{}).AllowsName("example.com", 443) || (Allowlist{}).AllowsAddr(netip.MustParseAddrPort("127.0.0.1:80")) {
		t.Error("an empty allowlist allows something")
	}
}

// FuzzParse checks that any entry either fails to parse or gives a pattern
// that matches consistently: an allowed name:port is allowed again after the
// case and trailing-dot changes resolvers make.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"api.example.com:443", "*.x.y:*", "https://a.b", "http://[::1]:80/p", "*:1", "${X}", "a:b:c"} {
		f.Add(s, "api.example.com", 443)
	}
	f.Fuzz(func(t *testing.T, entry, name string, port int) {
		p, err := Parse(entry)
		if err != nil {
			return
		}
		list := Allowlist{p}
		if list.AllowsName(name, port) && !list.AllowsName(strings.ToUpper(name)+".", port) && !strings.HasSuffix(name, ".") {
			t.Fatalf("%q allows %q but not %q", entry, name, strings.ToUpper(name)+".")
		}
		if (port < 1 || port > 65535) && list.AllowsName(name, port) {
			t.Fatalf("%q allows port %d", entry, port)
		}
	})
}
