package scaffold

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModulePathFor(t *testing.T) {
	tests := []struct{ dir, want string }{
		{"myapp", "myapp"},
		{"My App", "my-app"},
		{"café.api", "caf-.api"},
		{"---", "app"},
	}
	for _, tt := range tests {
		if got := modulePathFor(tt.dir); got != tt.want {
			t.Errorf("modulePathFor(%q) = %q, want %q", tt.dir, got, tt.want)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "My App")
	if err := Write(dir, Options{Replace: "/src/wasmroute"}); err != nil {
		t.Fatal(err)
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, want := range []string{"module my-app\n", "require github.com/wasmroute/wasmroute v0.0.0", "replace github.com/wasmroute/wasmroute => /src/wasmroute"} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("go.mod lacks %q:\n%s", want, gomod)
		}
	}
	for _, f := range Files() {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := Write(dir, Options{}); err == nil || !strings.Contains(err.Error(), "already has go.mod") {
		t.Errorf("a second Write: %v", err)
	}
}

func TestCheckout(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	if got := Checkout(filepath.Join(repo, "cmd", "wasmroute", "init.go")); got != repo {
		t.Errorf("Checkout from the CLI's source = %q, want %q", got, repo)
	}
	if got := Checkout(filepath.Join(t.TempDir(), "x.go")); got != "" {
		t.Errorf("Checkout outside a checkout = %q", got)
	}
}
