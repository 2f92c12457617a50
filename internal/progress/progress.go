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
	detail  string // what Bytes last said of the current step
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
	p.current, p.detail, p.since = line, "", time.Now()
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
				fmt.Fprintf(p.out, "\r\x1b[K%s … %s%.0fs", p.current, p.detail, time.Since(p.since).Seconds())
			}
			p.mu.Unlock()
		}
	}
}

// Bytes tells the current step how many of its bytes have moved; a
// terminal shows it on the step's line, at the next redraw.
func (p *Printer) Bytes(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.detail = fmt.Sprintf("%.1f of %.1f MB, ", float64(done)/1e6, float64(total)/1e6)
	}
}

// Count returns a reader of r that tells Bytes of what is read through
// it, adding it to *done, of total.
func (p *Printer) Count(r io.Reader, done *int64, total int64) io.Reader {
	return &counter{r: r, p: p, done: done, total: total}
}

type counter struct {
	r     io.Reader
	p     *Printer
	done  *int64
	total int64
}

func (c *counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	*c.done += int64(n)
	c.p.Bytes(*c.done, c.total)
	return n, err
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
