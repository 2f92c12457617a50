package host

import (
	"testing"
	"time"
)

// TestCPUSlotOrder checks who gets a freed slot: a call coming back from a
// wait (it holds an instance) before a new request, unless the new request
// has waited a quantum.
func TestCPUSlotOrder(t *testing.T) {
	tests := []struct {
		name    string
		waiters []bool // resuming?, in the order they queue
		aged    bool   // the first new request has waited a quantum
		want    int    // index of the waiter that gets the slot
	}{
		{"a resuming call goes before an earlier new request", []bool{false, true}, false, 1},
		{"new requests in order", []bool{false, false}, false, 0},
		{"resuming calls in order", []bool{true, true, false}, false, 0},
		{"a new request that waited a quantum goes first", []bool{false, true}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newCPUSlots(1)
			s.acquire(false) // the slot is taken
			got := make(chan int, len(tt.waiters))
			for i, resuming := range tt.waiters {
				go func() { s.acquire(resuming); got <- i }()
				for queued := 0; queued <= i; {
					s.mu.Lock()
					queued = len(s.resuming) + len(s.starting)
					s.mu.Unlock()
				}
			}
			// Age the new requests, or make them young whatever the time
			// it took to queue them on a loaded machine.
			s.mu.Lock()
			for i := range s.starting {
				s.starting[i].since = time.Now().Add(time.Hour)
			}
			if tt.aged {
				s.starting[0].since = time.Now().Add(-2 * cpuQuantum)
			}
			s.mu.Unlock()
			s.release()
			if first := <-got; first != tt.want {
				t.Fatalf("waiter %d got the slot, want %d", first, tt.want)
			}
			for range len(tt.waiters) - 1 {
				s.release()
				<-got
			}
		})
	}
}
