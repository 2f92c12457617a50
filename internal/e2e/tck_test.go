package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/abi/tck"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/cache"
)

// TestConformanceOfTheSDK runs the ABI conformance kit against wasmroute's
// host serving the conformance routes written with the Go SDK
// (testdata/tck): the SDK speaks the ABI.
func TestConformanceOfTheSDK(t *testing.T) {
	s := serve(t, tckDir, host.Options{Cache: cache.NewMemory(0)})
	tck.Run(t, s.URL, tck.Options{Cache: true})
}

// TestConformanceOfTheHost runs the kit against wasmroute's host serving
// the kit's own guest, which calls the host functions directly, as a guest
// in another language would: the host speaks the ABI, host function errors
// included.
func TestConformanceOfTheHost(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tck.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", bin, "../../abi/tck/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the kit's guest: %v\n%s", err, out)
	}
	module, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	file, sum, err := bundle.AddModule(dir, module)
	if err != nil {
		t.Fatal(err)
	}
	m := &bundle.Manifest{ABI: abi.Version, Modules: []bundle.Module{{File: file, SHA256: sum, Size: int64(len(module))}}}
	for _, r := range tck.Routes {
		m.Routes = append(m.Routes, bundle.Route{Pattern: r.Pattern, Source: "abi/tck/guest", Methods: r.Methods})
	}
	if _, err := bundle.Write(dir, m); err != nil {
		t.Fatal(err)
	}
	// Built without wasmroute build, it has no loop countdown.
	s := serveBundle(t, dir, host.Options{CloseOnContextDone: true, Cache: cache.NewMemory(0)})
	tck.Run(t, s.URL, tck.Options{RawABI: true, Cache: true})
}
