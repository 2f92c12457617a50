package host

import (
	"log/slog"
	"time"
)

// A route whose module cannot compile, or whose instances cannot start,
// may be failing for a moment: a module file being replaced, the process out
// of file descriptors. So no failure is final. The pool logs it, and a
// goroutine tries again after a backoff that doubles from minBackoff to
// maxBackoff, until the route has a warm instance again. Requests in the
// meantime fail fast with the last error, or try again themselves once the
// backoff has passed.

const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// failed records a failure to compile or to start an instance, logs it, and
// starts the background retry if none runs.
func (p *pool) failed(msg string, err error) {
	p.compileMu.Lock()
	defer p.compileMu.Unlock()
	p.failedLocked(msg, err)
}

func (p *pool) failedLocked(msg string, err error) {
	p.backoff = min(max(2*p.backoff, minBackoff), maxBackoff)
	p.retryAt = time.Now().Add(p.backoff)
	p.h.log.Error(msg, slog.String("module", p.module), slog.String("error", err.Error()),
		slog.Duration("retry_in", p.backoff))
	if p.retrying || p.closed {
		return
	}
	// Under the host's lock, so Close never waits for the retries while one
	// is being added.
	p.h.life.RLock()
	defer p.h.life.RUnlock()
	if !p.h.closed {
		p.retrying = true
		p.h.bg.Add(1)
		go p.retry()
	}
}

// retry warms the pool after each backoff until it has an instance, the
// pool is retired, or the host closes.
func (p *pool) retry() {
	defer p.h.bg.Done()
	for {
		p.compileMu.Lock()
		wait := time.Until(p.retryAt)
		p.compileMu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.h.done:
			t.Stop()
			p.stopRetrying()
			return
		}
		if p.retiredNow() || p.warm() == nil {
			p.stopRetrying()
			return
		}
	}
}

func (p *pool) stopRetrying() {
	p.compileMu.Lock()
	p.retrying = false
	p.compileMu.Unlock()
}
