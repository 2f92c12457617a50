package host

import "testing"

// TestTakeIdle checks which idle instance a request gets: the most
// recently used, or for isolation = "request" the most recent one that
// never served a request.
func TestTakeIdle(t *testing.T) {
	tests := []struct {
		name  string
		used  []bool // the idle stack, bottom first
		fresh bool
		want  int // index taken, -1 for none
	}{
		{"empty", nil, false, -1},
		{"the top", []bool{true, true}, false, 1},
		{"a fresh one on top", []bool{true, false}, false, 1},
		{"isolated, fresh below used", []bool{false, true}, true, 0},
		{"isolated, only used", []bool{true, true}, true, -1},
		{"isolated, the most recent fresh", []bool{false, false, true}, true, 1},
	}
	for _, tt := range tests {
		p := &pool{}
		var all []*instance
		for _, used := range tt.used {
			inst := &instance{used: used}
			all = append(all, inst)
			p.idle = append(p.idle, inst)
		}
		got := p.takeIdle(tt.fresh)
		switch {
		case tt.want < 0 && got != nil:
			t.Errorf("%s: took an instance, want none", tt.name)
		case tt.want >= 0 && got != all[tt.want]:
			t.Errorf("%s: took the wrong instance", tt.name)
		case tt.want >= 0 && len(p.idle) != len(all)-1:
			t.Errorf("%s: %d idle left, want %d", tt.name, len(p.idle), len(all)-1)
		}
	}
}
