// Package progress prints the steps of long work: on a terminal the
// current step stays on one line with the seconds it has taken, updated
// as it goes; elsewhere each step is a plain line.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Printer prints steps to one writer. Its methods are safe for concurrent
// use.
type Printer struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	current string
	since   time.Time
	stop    chan struct{}
}

// New returns a Printer for out; it redraws a line only when out is a
// terminal.
func New(out io.Writer) *Printer {
	f, ok := out.(*os.File)
	tty := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb" {
			tty = true
		}
	}
	return &Printer{out: out, tty: tty}
}

// Step starts a step, ending the one before.
func (p *Printer) Step(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintln(p.out, line)
		return
	}
	p.endLocked()
	p.current, p.since = line, time.Now()
	fmt.Fprintf(p.out, "%s …", line)
	p.stop = make(chan struct{})
	go p.tick(p.stop)
}

func (p *Printer) tick(stop chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.stop == stop {
				fmt.Fprintf(p.out, "\r\x1b[K%s … %.0fs", p.current, time.Since(p.since).Seconds())
			}
			p.mu.Unlock()
		}
	}
}

// Line ends the current step and prints a line of its own.
func (p *Printer) Line(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	fmt.Fprintln(p.out, line)
}

// Done ends the current step.
func (p *Printer) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
}

func (p *Printer) endLocked() {
	if p.stop == nil {
		return
	}
	close(p.stop)
	p.stop = nil
	fmt.Fprintf(p.out, "\r\x1b[K%s (%.1fs)\n", p.current, time.Since(p.since).Seconds())
}
