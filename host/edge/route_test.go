package edge

import "testing"

func TestRoute(t *testing.T) {
	api, wild, deep := &app{name: "api", domains: []string{"api.example.com"}}, &app{name: "wild", domains: []string{"*.example.com"}},
		&app{name: "deep", domains: []string{"*.eu.example.com"}}
	s := &Server{apps: map[string]*app{"api": api, "wild": wild, "deep": deep}}
	s.reindexLocked()
	tests := []struct {
		host string
		want *app
	}{
		{"api.example.com", api},
		{"API.example.com:8080", api},
		{"shop.example.com", wild},
		{"a.shop.example.com", wild},
		{"x.eu.example.com", deep},
		{"example.com", nil},
		{"other.test", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := s.route(tt.host); got != tt.want {
			t.Errorf("route(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
