package main

import (
	"os"
	"testing"
	"time"
)

func TestStatCPU(t *testing.T) {
	for _, tt := range []struct {
		name, stat string
		want       time.Duration
		ok         bool
	}{
		{"plain", "4242 (wasmroute) S 1 4242 4242 0 -1 4194560 9000 0 0 0 1234 567 0 0 20 0 6 0 100 0 0", 18010 * time.Millisecond, true},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 1 0 0", 150 * time.Millisecond, true},
		{"truncated", "7 (x) R 1 7", 0, false},
		{"no name", "garbage", 0, false},
		{"not numbers", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 1 0 0", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statCPU(tt.stat)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("statCPU = %v, %v; want %v (ok %v)", got, err, tt.want, tt.ok)
			}
		})
	}
}

// The reading must follow the CPU this process burns: spin until it has
// moved by 20 ms, and fail if it has not within 10 s of wall time.
func TestProcessCPUOfThisProcess(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		now, err := processCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 20*time.Millisecond {
			return
		}
	}
	t.Errorf("CPU time stayed near %v while the test spun for 10s", before)
}

func TestFmtDur(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{450 * time.Nanosecond, "0.45µs"},
		{4500 * time.Nanosecond, "4.50µs"},
		{85 * time.Microsecond, "85µs"},
		{12780 * time.Microsecond, "12.78ms"},
		{1810 * time.Millisecond, "1.81s"},
	} {
		if got := fmtDur(tt.d); got != tt.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestProcKB(t *testing.T) {
	for _, tt := range []struct {
		name, status string
		want         uint64
		ok           bool
	}{
		{"linux", "Name:\twasmroute\nVmPeak:\t 900 kB\nVmRSS:\t   12345 kB\nThreads:\t6\n", 12345 << 10, true},
		{"no line", "Name:\tx\n", 0, false},
		{"other unit", "VmRSS:\t 5 MB\n", 0, false},
		{"not a number", "VmRSS:\t x kB\n", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := procKB(tt.status, "VmRSS:")
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("procKB = %d, %v; want %d (ok %v)", got, err, tt.want, tt.ok)
			}
		})
	}
}
