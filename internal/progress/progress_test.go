package progress

import (
	"bytes"
	"testing"
)

// Off a terminal each step is a plain line, and Done prints nothing more.
func TestPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := New(&b)
	p.Step("compiling")
	p.Step("linking")
	p.Done()
	if b.String() != "compiling\nlinking\n" {
		t.Fatalf("%q", b.String())
	}
}
