package host

import (
	"errors"
	"sync/atomic"
)

// budget caps a resource all the instances of a host share: the file
// descriptors guests hold (Options.MaxGuestSockets) and their linear memory
// (Options.MemoryBudget). What would pass it is refused, so no app can take
// from the process what it needs to keep serving.
type budget struct {
	used  atomic.Int64
	limit int64
}

// acquire takes n from the budget, or reports false and takes nothing.
func (b *budget) acquire(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) release(n int64) { b.used.Add(-n) }

// errFDBudget is the error of an instance the host cannot start because
// guests hold all the descriptors it allows them.
var errFDBudget = errors.New("the host's budget of guest file descriptors is spent (Options.MaxGuestSockets)")

// errMemoryBudget is the error of an instance the host cannot start, or
// grow, because instances hold all the memory it allows them.
var errMemoryBudget = errors.New("the host's budget of instance memory is spent (Options.MemoryBudget)")

// memoryUse is what one instance's linear memory holds of the host's
// memory budget. Its allocator resizes it as the guest grows.
type memoryUse struct {
	budget  *budget // nil: no budget
	held    int64
	refused atomic.Bool // the budget refused to let it grow
}

// resize accounts for the memory growing (or shrinking) to size bytes, and
// reports false if the budget cannot give that much.
func (m *memoryUse) resize(size uint64) bool {
	if m == nil || m.budget == nil {
		return true
	}
	delta := int64(size) - m.held
	if delta > 0 && !m.budget.acquire(delta) {
		m.refused.Store(true)
		return false
	}
	if delta < 0 {
		m.budget.release(-delta)
	}
	m.held = int64(size)
	return true
}

// free gives the memory back to the budget when the instance closes.
func (m *memoryUse) free() {
	if m != nil && m.budget != nil {
		m.budget.release(m.held)
		m.held = 0
	}
}
