package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
)

// newBundle writes a bundle of two modules, the bytes given, to a new
// directory.
func newBundle(t *testing.T, modules ...string) (string, *bundle.Manifest) {
	t.Helper()
	dir := t.TempDir()
	m := &bundle.Manifest{ABI: abi.Version}
	for i, bin := range modules {
		path, sum, err := bundle.AddModule(dir, []byte(bin))
		if err != nil {
			t.Fatal(err)
		}
		m.Modules = append(m.Modules, bundle.Module{File: path, SHA256: sum, Size: int64(len(bin))})
		m.Routes = append(m.Routes, bundle.Route{Pattern: "/r" + string(rune('a'+i)), Methods: []string{"GET"}, Module: i})
	}
	if _, err := bundle.Write(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// counting is a Store that remembers what it was given.
type counting struct {
	have  map[string]bool
	added []string
}

func (c *counting) HasModule(sum string) bool { return c.have[sum] }
func (c *counting) AddModule(sum string, module []byte) error {
	if bundle.Sum(module) != sum {
		return errors.New("a module under another digest")
	}
	c.added = append(c.added, sum)
	return nil
}

// TestPushAndPull pushes a bundle to a store and pulls it back: the same
// manifest and modules, only the missing modules fetched, progress told,
// and a second push of the same version the same digest.
func TestPushAndPull(t *testing.T) {
	ctx := context.Background()
	dir, m := newBundle(t, "\x00asm module one", "\x00asm module two, a little longer")
	store := memory.New()
	var pushed []int64
	desc, err := push(ctx, store, dir, "v1", func(done, total int64) { pushed = append(pushed, done) })
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len("\x00asm module one") + len("\x00asm module two, a little longer")); len(pushed) == 0 || pushed[len(pushed)-1] != want {
		t.Errorf("push progress %v, want it to end at %d", pushed, want)
	}
	again, err := push(ctx, store, dir, "v1", nil)
	if err != nil || again.Digest != desc.Digest {
		t.Errorf("pushing one version twice: %s then %s (%v)", desc.Digest, again.Digest, err)
	}
	// A registry resolves a digest itself; the memory store only tags.
	if err := store.Tag(ctx, desc, desc.Digest.String()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		ref   string
		have  map[string]bool
		fetch int
	}{
		{"by tag, nothing stored", "v1", nil, 2},
		{"by digest, one module stored", desc.Digest.String(), map[string]bool{m.Modules[0].SHA256: true}, 1},
		{"both stored", "v1", map[string]bool{m.Modules[0].SHA256: true, m.Modules[1].SHA256: true}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &counting{have: tt.have}
			raw, got, err := pull(ctx, store, tt.ref, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != desc.Digest || bundle.Sum(raw) != m.Version {
				t.Errorf("pulled %s, manifest %s; pushed %s, version %s", got.Digest, bundle.Sum(raw), desc.Digest, m.Version)
			}
			if len(s.added) != tt.fetch {
				t.Errorf("fetched %d modules, want %d", len(s.added), tt.fetch)
			}
		})
	}
}

// TestPullDir pulls into an empty bundle directory: the version id is the
// one built, and the bundle loads.
func TestPullDir(t *testing.T) {
	ctx := context.Background()
	dir, m := newBundle(t, "\x00asm the module")
	store := memory.New()
	if _, err := push(ctx, store, dir, "latest", nil); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	raw, _, err := pull(ctx, store, "latest", Dir(dst), nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := bundle.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	version, err := bundle.WriteVersion(dst, parsed)
	if err != nil || version != m.Version {
		t.Fatalf("version %s (%v), built %s", version, err, m.Version)
	}
	if _, err := bundle.ReadModule(dst, m.Modules[0]); err != nil {
		t.Fatal(err)
	}
}

// corrupt serves the blob with digest d with its last byte changed.
type corrupt struct {
	oras.ReadOnlyTarget
	d string
}

func (c corrupt) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.ReadOnlyTarget.Fetch(ctx, desc)
	if err != nil || desc.Digest.String() != c.d {
		return rc, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)-1] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestPullRefuses checks that what is not a whole bundle is refused with
// ErrNotBundle, and that nothing reaches the store.
func TestPullRefuses(t *testing.T) {
	ctx := context.Background()
	dir, m := newBundle(t, "\x00asm one", "\x00asm two")
	config, _ := os.ReadFile(filepath.Join(dir, bundle.VersionsDir, m.Version+".json"))
	mod0, _ := bundle.ReadModule(dir, m.Modules[0])
	mod1, _ := bundle.ReadModule(dir, m.Modules[1])
	layer := func(b []byte) ocispec.Descriptor { return content.NewDescriptorFromBytes(ModuleMediaType, b) }
	// artifact pushes an artifact of the given parts to a new store.
	artifact := func(t *testing.T, artifactType, configType string, config []byte, layers ...[]byte) *memory.Store {
		s := memory.New()
		cfg := content.NewDescriptorFromBytes(configType, config)
		if err := s.Push(ctx, cfg, bytes.NewReader(config)); err != nil {
			t.Fatal(err)
		}
		var descs []ocispec.Descriptor
		for _, l := range layers {
			d := layer(l)
			if err := s.Push(ctx, d, bytes.NewReader(l)); err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Fatal(err)
			}
			descs = append(descs, d)
		}
		d, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{ConfigDescriptor: &cfg, Layers: descs})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Tag(ctx, d, "x"); err != nil {
			t.Fatal(err)
		}
		return s
	}
	many := make([][]byte, bundle.MaxModules+1)
	for i := range many {
		many[i] = []byte{0, 'a', 's', 'm', byte(i)}
	}
	other, _ := json.Marshal(map[string]int{"format": bundle.Format + 1})
	tests := []struct {
		name   string
		target func(t *testing.T) oras.ReadOnlyTarget
		want   string
	}{
		{"another artifact type", func(t *testing.T) oras.ReadOnlyTarget {
			return artifact(t, "application/vnd.example.thing", "application/vnd.example.config+json", config, mod0, mod1)
		}, "artifact type"},
		{"a module it names but does not carry", func(t *testing.T) oras.ReadOnlyTarget {
			return artifact(t, ArtifactType, ConfigMediaType, config, mod0)
		}, "carries no layer of it"},
		{"too many layers", func(t *testing.T) oras.ReadOnlyTarget {
			return artifact(t, ArtifactType, ConfigMediaType, config, many...)
		}, "layers (at most"},
		{"a config that is not a manifest", func(t *testing.T) oras.ReadOnlyTarget {
			return artifact(t, ArtifactType, ConfigMediaType, []byte("not json"), mod0, mod1)
		}, "its config"},
		{"a module that does not match its digest", func(t *testing.T) oras.ReadOnlyTarget {
			return corrupt{artifact(t, ArtifactType, ConfigMediaType, config, mod0, mod1), layer(mod1).Digest.String()}
		}, "mismatch"},
		{"a config that does not match its digest", func(t *testing.T) oras.ReadOnlyTarget {
			return corrupt{artifact(t, ArtifactType, ConfigMediaType, config, mod0, mod1), content.NewDescriptorFromBytes(ConfigMediaType, config).Digest.String()}
		}, "mismatch"},
		{"an unknown manifest format is still a bundle, refused later by Parse", func(t *testing.T) oras.ReadOnlyTarget {
			return artifact(t, ArtifactType, ConfigMediaType, other)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &counting{}
			raw, _, err := pull(ctx, tt.target(t), "x", s, nil)
			if tt.want == "" {
				if _, perr := bundle.Parse(raw); err != nil || perr == nil || !strings.Contains(perr.Error(), "manifest format") {
					t.Fatalf("pull: %v; Parse: %v", err, perr)
				}
				return
			}
			if !errors.Is(err, ErrNotBundle) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrNotBundle with %q", err, tt.want)
			}
			if tt.name != "a module that does not match its digest" && len(s.added) != 0 {
				t.Errorf("modules stored from a refused artifact: %v", s.added)
			}
		})
	}
}

// TestLoopback checks which registries get plain HTTP without being told.
func TestLoopback(t *testing.T) {
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"localhost:5000", true}, {"127.0.0.1:5000", true}, {"127.0.0.2", true}, {"[::1]:5000", true},
		{"registry.example.com", false}, {"10.0.0.1:5000", false}, {"localhost.example.com", false},
	} {
		if got := loopback(tt.host); got != tt.want {
			t.Errorf("loopback(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
