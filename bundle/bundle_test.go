package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmroute/wasmroute/abi"
)

// newBundle writes a bundle with one route whose module is bin.
func newBundle(t *testing.T, dir string, bin string) *Manifest {
	t.Helper()
	module, sum, err := AddModule(dir, []byte(bin))
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{ABI: abi.Version, Modules: []Module{{File: module, SHA256: sum, Size: int64(len(bin))}},
		Routes: []Route{{Pattern: "/a", Methods: []string{"GET"}}}}
	if _, err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestWriteAndLoad(t *testing.T) {
	dir := t.TempDir()
	m1 := newBundle(t, dir, "module one")
	got, err := Load(dir)
	if err != nil || got.Version != m1.Version || got.Modules[0].SHA256 != Sum([]byte("module one")) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	// The same content is the same version: the id is the content's.
	again := newBundle(t, dir, "module one")
	if again.Version != m1.Version {
		t.Fatalf("the same manifest got versions %s and %s", m1.Version, again.Version)
	}
	m2 := newBundle(t, dir, "module two")
	if m2.Version == m1.Version {
		t.Fatal("a new module made no new version")
	}
	if cur, _ := Load(dir); cur.Version != m2.Version {
		t.Fatalf("current is %s, want the last written %s", cur.Version, m2.Version)
	}
	// The previous version stays, with its module, to roll back to.
	if old, err := LoadVersion(dir, m1.Version); err != nil || old.Modules[0] != m1.Modules[0] {
		t.Fatalf("previous version: %+v, %v", old, err)
	}
	if _, err := os.Stat(filepath.Join(dir, m1.Modules[0].File)); err != nil {
		t.Fatalf("previous version's module: %v", err)
	}
}

// TestLoadRefuses checks each way a bundle can be damaged or foreign.
func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, m *Manifest)
		want   string
	}{
		{"no bundle", func(t *testing.T, dir string, m *Manifest) { os.Remove(filepath.Join(dir, CurrentName)) }, "no bundle at"},
		{"current names no version", func(t *testing.T, dir string, m *Manifest) {
			os.WriteFile(filepath.Join(dir, CurrentName), []byte(strings.Repeat("0", 64)), 0o644)
		}, "no such file"},
		{"current is not a version id", func(t *testing.T, dir string, m *Manifest) {
			os.WriteFile(filepath.Join(dir, CurrentName), []byte("../../etc/passwd"), 0o644)
		}, "is not a version id"},
		{"version file changed", func(t *testing.T, dir string, m *Manifest) {
			path := filepath.Join(dir, VersionsDir, m.Version+".json")
			b, _ := os.ReadFile(path)
			os.WriteFile(path, []byte(strings.Replace(string(b), `"/a"`, `"/b"`, 1)), 0o644)
		}, "is corrupt"},
		{"unknown format", func(t *testing.T, dir string, m *Manifest) { writeRaw(t, dir, `{"format": 99, "abi": 2}`) }, "manifest format 99"},
		{"another ABI", func(t *testing.T, dir string, m *Manifest) { writeRaw(t, dir, `{"format": 3, "abi": 99}`) }, "ABI version 99"},
		{"module not named by its digest", func(t *testing.T, dir string, m *Manifest) {
			m.Modules[0].File = "modules/other.wasm"
			Write(dir, m)
		}, "invalid module path"},
		{"module outside the bundle", func(t *testing.T, dir string, m *Manifest) {
			m.Modules[0].File = "../../etc/passwd"
			Write(dir, m)
		}, "invalid module path"},
		{"route names no module", func(t *testing.T, dir string, m *Manifest) {
			m.Routes[0].Module = 1
			Write(dir, m)
		}, "no module 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := newBundle(t, dir, "a module")
			tt.damage(t, dir, m)
			if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want %q", err, tt.want)
			}
		})
	}
}

// writeRaw makes raw the current manifest, named by its digest.
func writeRaw(t *testing.T, dir, raw string) {
	t.Helper()
	v := Sum([]byte(raw))
	os.WriteFile(filepath.Join(dir, VersionsDir, v+".json"), []byte(raw), 0o644)
	os.WriteFile(filepath.Join(dir, CurrentName), []byte(v), 0o644)
}

// TestPrune writes more versions than are kept: the oldest go, with the
// modules only they named, once those are an hour old.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	first := newBundle(t, dir, "module 0")
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(dir, first.Modules[0].File), old, old)
	os.Chtimes(filepath.Join(dir, VersionsDir, first.Version+".json"), old, old)
	var last *Manifest
	for i := 1; i <= KeepVersions; i++ {
		last = newBundle(t, dir, "module "+string(rune('0'+i)))
		later := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(filepath.Join(dir, VersionsDir, last.Version+".json"), later, later)
	}
	newBundle(t, dir, "module "+string(rune('0'+KeepVersions))) // prune again, first now the oldest
	versions, _ := os.ReadDir(filepath.Join(dir, VersionsDir))
	if len(versions) != KeepVersions {
		t.Fatalf("%d versions kept, want %d", len(versions), KeepVersions)
	}
	if _, err := LoadVersion(dir, first.Version); err == nil {
		t.Fatal("the oldest version was kept")
	}
	if _, err := os.Stat(filepath.Join(dir, first.Modules[0].File)); err == nil {
		t.Fatal("the oldest version's module was kept")
	}
	if _, err := LoadVersion(dir, last.Version); err != nil {
		t.Fatalf("a recent version was removed: %v", err)
	}
}

// TestReadersNeverSeeHalfABundle loads the bundle while versions are
// written: every load succeeds, whole.
func TestReadersNeverSeeHalfABundle(t *testing.T) {
	dir := t.TempDir()
	newBundle(t, dir, "start")
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if m, err := Load(dir); err != nil || len(m.Routes) != 1 {
				t.Errorf("Load during writes: %v", err)
				return
			}
		}
	}()
	for i := range 100 {
		newBundle(t, dir, "module "+strings.Repeat("x", i))
	}
	close(done)
	wg.Wait()
}

// TestVersionsAndSetCurrent: a version written without switching, then
// switched to and back, as a deploy and a rollback do.
func TestVersionsAndSetCurrent(t *testing.T) {
	dir := t.TempDir()
	first := newBundle(t, dir, "module one")
	module, sum, err := AddModule(dir, []byte("module two"))
	if err != nil {
		t.Fatal(err)
	}
	second := &Manifest{ABI: abi.Version, Modules: []Module{{File: module, SHA256: sum, Size: 10}}, Routes: []Route{{Pattern: "/b", Methods: []string{"GET"}}}}
	v2, err := WriteVersion(dir, second)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		step    func() error
		current string
	}{
		{"written, not current", func() error { return nil }, first.Version},
		{"switched to", func() error { return SetCurrent(dir, v2) }, v2},
		{"rolled back", func() error { return SetCurrent(dir, first.Version) }, first.Version},
		{"an unknown version is refused", func() error {
			if SetCurrent(dir, strings.Repeat("0", 64)) == nil {
				t.Error("SetCurrent took an unknown version")
			}
			return nil
		}, first.Version},
	}
	for _, s := range steps {
		if err := s.step(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if m, err := Load(dir); err != nil || m.Version != s.current {
			t.Fatalf("%s: current %v, %v; want %s", s.name, m, err, s.current)
		}
	}
	if vs, err := Versions(dir); err != nil || len(vs) != 2 || vs[0] != v2 {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
}
