package host

import "testing"

// TestDiffRuns checks which pages an image over a base stores: the runs
// that differ, joined across small gaps.
func TestDiffRuns(t *testing.T) {
	base := make([]byte, 40*pageSize)
	for i := range base {
		base[i] = 1
	}
	page := func(b []byte, i int) { b[i*pageSize] = 2 }
	tests := []struct {
		name string
		edit func([]byte) []byte
		runs []pageRun
	}{
		{"none", func(b []byte) []byte { return b }, nil},
		{"one page", func(b []byte) []byte { page(b, 5); return b }, []pageRun{{5 * pageSize, pageSize}}},
		{"joined across a small gap", func(b []byte) []byte { page(b, 5); page(b, 10); return b },
			[]pageRun{{5 * pageSize, 6 * pageSize}}},
		{"apart", func(b []byte) []byte { page(b, 5); page(b, 30); return b },
			[]pageRun{{5 * pageSize, pageSize}, {30 * pageSize, pageSize}}},
		{"a tail of zeros needs nothing", func(b []byte) []byte { return append(b, make([]byte, 3*pageSize)...) }, nil},
		{"a tail with data", func(b []byte) []byte { return append(b, append(make([]byte, pageSize), 9)...) },
			[]pageRun{{41 * pageSize, 1}}},
	}
	for _, tt := range tests {
		b := tt.edit(append([]byte(nil), base...))
		got := diffRuns(base, b)
		if len(got) != len(tt.runs) {
			t.Errorf("%s: runs %v, want %v", tt.name, got, tt.runs)
			continue
		}
		for i := range got {
			if got[i] != tt.runs[i] {
				t.Errorf("%s: runs %v, want %v", tt.name, got, tt.runs)
			}
		}
	}
}
