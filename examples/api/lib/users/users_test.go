package users

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"1", true}, {"50", true}, {"0", false}, {"51", false}, {"01", false}, {"abc", false}, {"", false},
	}
	for _, tt := range tests {
		u, ok := Lookup(tt.id)
		if ok != tt.ok || (ok && (u.ID != tt.id || u.Email != "user"+tt.id+"@example.com")) {
			t.Errorf("Lookup(%q) = %+v, %v", tt.id, u, ok)
		}
	}
}
