// Package oci moves bundles through OCI registries, with oras-go. A bundle
// version is one OCI artifact:
//
//	manifest      application/vnd.oci.image.manifest.v1+json, artifactType ArtifactType
//	  config      ConfigMediaType: the bundle's manifest (versions/<id>.json), byte for byte
//	  layers      ModuleMediaType: one per module, by its SHA-256, which is the layer's digest
//
// Credentials come from the docker config file, as with other OCI tools. A
// registry on localhost or a loopback address is spoken to over plain HTTP,
// as docker does; Options.PlainHTTP covers others.
package oci

import (
	"bytes"
	"context"
	_ "crypto/sha256" // digests in references
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/wasmroute/wasmroute/bundle"
)

// Media types of a bundle artifact.
const (
	// ArtifactType is the artifact type of a bundle's OCI manifest.
	ArtifactType = "application/vnd.wasmroute.bundle.v1"
	// ConfigMediaType is the media type of the config blob: the bundle
	// manifest.
	ConfigMediaType = "application/vnd.wasmroute.manifest.v1+json"
	// ModuleMediaType is the media type of a layer: one module.
	ModuleMediaType = "application/vnd.wasmroute.module.v1+wasm"
)

// maxManifestBytes caps the OCI manifest and the config blob a pull
// accepts; bundle.MaxModules and bundle.MaxModuleBytes cap the layers.
const maxManifestBytes = 4 << 20

// ErrNotBundle marks an artifact that is not a whole, valid wasmroute
// bundle: another artifact type, a module it names but does not carry,
// content over the limits, or content that does not match its digest.
// Other errors from Pull are the registry's: unreachable, refused, not
// found.
var ErrNotBundle = errors.New("not a wasmroute bundle")

// Options say how to reach a registry.
type Options struct {
	// PlainHTTP speaks HTTP, not HTTPS, to the registry. A registry on
	// localhost or a loopback address always gets plain HTTP.
	PlainHTTP bool
	// DockerConfig is the docker config file that holds credentials.
	// Empty: $DOCKER_CONFIG/config.json, or ~/.docker/config.json.
	DockerConfig string
	// Progress, if set, is told of the module bytes moved so far, of all
	// the bytes to move; the modules the other side has already are not
	// counted.
	Progress func(done, total int64)
}

// repository opens the repository that ref names, with credentials from
// the docker config.
func repository(ref registry.Reference, opts Options) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = opts.PlainHTTP || loopback(ref.Host())
	var store credentials.Store
	if opts.DockerConfig != "" {
		store, err = credentials.NewStore(opts.DockerConfig, credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("docker config: %w", err)
	}
	repo.Client = &auth.Client{
		Client:     retry.DefaultClient,
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     map[string][]string{"User-Agent": {"wasmroute"}},
	}
	return repo, nil
}

// login says what to do when the registry asks for credentials the docker
// config does not hold.
func login(r registry.Reference, err error) error {
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return fmt.Errorf("%s asks for a login, and the docker config has none for it (docker login %s): %w", r.Registry, r.Registry, err)
	}
	return err
}

// loopback reports whether host (host or host:port) is localhost or a
// loopback address.
func loopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Push pushes the current version of the bundle in dir to ref
// (registry/repository[:tag]; the tag defaults to latest), sending only
// the blobs the registry lacks, and returns the reference pinned to the
// artifact's digest: registry/repository@sha256:….
func Push(ctx context.Context, dir, ref string, opts Options) (pinned string, err error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if _, err := r.Digest(); err == nil {
		return "", fmt.Errorf("%s: push to a tag, not a digest", ref)
	}
	if r.Reference == "" {
		r.Reference = "latest"
	}
	repo, err := repository(r, opts)
	if err != nil {
		return "", err
	}
	desc, err := push(ctx, repo, dir, r.Reference, opts.Progress)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, login(r, err))
	}
	return r.Registry + "/" + r.Repository + "@" + desc.Digest.String(), nil
}

// push pushes the bundle in dir to target and tags it.
func push(ctx context.Context, target oras.Target, dir, tag string, progress func(done, total int64)) (ocispec.Descriptor, error) {
	m, err := bundle.Load(dir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	versionFile := filepath.Join(dir, bundle.VersionsDir, m.Version+".json")
	config, err := os.ReadFile(versionFile)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var layers []ocispec.Descriptor
	var blobs [][]byte
	var total int64
	for _, mod := range m.Modules {
		bin, err := bundle.ReadModule(dir, mod)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		desc := content.NewDescriptorFromBytes(ModuleMediaType, bin)
		desc.Annotations = map[string]string{ocispec.AnnotationTitle: mod.SHA256 + ".wasm"}
		has, err := target.Exists(ctx, desc)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		layers = append(layers, desc)
		if !has {
			blobs = append(blobs, bin)
			total += desc.Size
		} else {
			blobs = append(blobs, nil)
		}
	}
	var done int64
	for i, bin := range blobs {
		if bin == nil {
			continue
		}
		var r io.Reader = bytes.NewReader(bin)
		if progress != nil {
			r = &counter{r: r, done: &done, total: total, report: progress}
		}
		if err := target.Push(ctx, layers[i], r); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	cfg := content.NewDescriptorFromBytes(ConfigMediaType, config)
	if has, err := target.Exists(ctx, cfg); err != nil {
		return ocispec.Descriptor{}, err
	} else if !has {
		if err := target.Push(ctx, cfg, bytes.NewReader(config)); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	// The time the version was written, not now: pushing one version
	// twice gives one digest.
	created := time.Now().UTC()
	if info, err := os.Stat(versionFile); err == nil {
		created = info.ModTime().UTC()
	}
	desc, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers:           layers,
		ConfigDescriptor: &cfg,
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationCreated: created.Format(time.RFC3339),
			"io.wasmroute.version":    m.Version,
		},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, target.Tag(ctx, desc, tag)
}

// Store is where Pull puts modules: a bundle directory, or an edge host's
// module store.
type Store interface {
	// HasModule reports whether the module with the SHA-256 is stored.
	HasModule(sum string) bool
	// AddModule stores a module, which Pull has checked against sum.
	AddModule(sum string, module []byte) error
}

// Pull fetches the bundle that ref names, puts the modules store lacks in
// it, and returns the bundle manifest (JSON, for bundle.WriteVersion or an
// edge host's Deploy) and the reference pinned to the artifact's digest. A
// tag is resolved once: everything after comes by digest. Every blob is
// checked against its digest and size.
func Pull(ctx context.Context, ref string, store Store, opts Options) (manifest []byte, pinned string, err error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrNotBundle, ref, err)
	}
	if r.Reference == "" {
		r.Reference = "latest"
	}
	repo, err := repository(r, opts)
	if err != nil {
		return nil, "", err
	}
	manifest, desc, err := pull(ctx, repo, r.Reference, store, opts.Progress)
	if err != nil {
		return nil, "", fmt.Errorf("pull %s: %w", ref, login(r, err))
	}
	return manifest, r.Registry + "/" + r.Repository + "@" + desc.Digest.String(), nil
}

// pull fetches the artifact that reference names from target.
func pull(ctx context.Context, target oras.ReadOnlyTarget, reference string, store Store, progress func(done, total int64)) ([]byte, ocispec.Descriptor, error) {
	desc, raw, err := oras.FetchBytes(ctx, target, reference, oras.FetchBytesOptions{MaxBytes: maxManifestBytes})
	if err != nil {
		return nil, desc, err
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(raw, &man); err != nil || desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, desc, fmt.Errorf("%w: its manifest is %s, not an OCI image manifest", ErrNotBundle, desc.MediaType)
	}
	if man.ArtifactType != ArtifactType || man.Config.MediaType != ConfigMediaType {
		return nil, desc, fmt.Errorf("%w: artifact type %q, config %q; want %s", ErrNotBundle, man.ArtifactType, man.Config.MediaType, ArtifactType)
	}
	if man.Config.Size > maxManifestBytes {
		return nil, desc, fmt.Errorf("%w: a config of %d bytes (at most %d)", ErrNotBundle, man.Config.Size, maxManifestBytes)
	}
	if len(man.Layers) > bundle.MaxModules {
		return nil, desc, fmt.Errorf("%w: %d layers (at most %d)", ErrNotBundle, len(man.Layers), bundle.MaxModules)
	}
	config, err := fetch(ctx, target, man.Config, nil)
	if err != nil {
		return nil, desc, err
	}
	var m bundle.Manifest
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, desc, fmt.Errorf("%w: its config: %v", ErrNotBundle, err)
	}
	// Every module the bundle names, from the layer of its digest.
	var want []ocispec.Descriptor
	var total int64
	for _, mod := range m.Modules {
		i := -1
		for j, l := range man.Layers {
			if l.Digest.String() == "sha256:"+mod.SHA256 && l.MediaType == ModuleMediaType {
				i = j
			}
		}
		if i < 0 {
			return nil, desc, fmt.Errorf("%w: it names module %s but carries no layer of it", ErrNotBundle, mod.SHA256)
		}
		l := man.Layers[i]
		if l.Size > bundle.MaxModuleBytes {
			return nil, desc, fmt.Errorf("%w: module %s is %d bytes (at most %d)", ErrNotBundle, mod.SHA256, l.Size, bundle.MaxModuleBytes)
		}
		if !store.HasModule(mod.SHA256) {
			want = append(want, l)
			total += l.Size
		}
	}
	var done int64
	for _, l := range want {
		var count func(io.Reader) io.Reader
		if progress != nil {
			count = func(r io.Reader) io.Reader { return &counter{r: r, done: &done, total: total, report: progress} }
		}
		bin, err := fetch(ctx, target, l, count)
		if err != nil {
			return nil, desc, err
		}
		if err := store.AddModule(l.Digest.Encoded(), bin); err != nil {
			return nil, desc, err
		}
	}
	return config, desc, nil
}

// fetch reads a blob whole and checks it against its size and digest; a
// mismatch is ErrNotBundle.
func fetch(ctx context.Context, target oras.ReadOnlyTarget, desc ocispec.Descriptor, wrap func(io.Reader) io.Reader) ([]byte, error) {
	rc, err := target.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var r io.Reader = rc
	if wrap != nil {
		r = wrap(r)
	}
	b, err := content.ReadAll(r, desc)
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: blob %s: %v", ErrNotBundle, desc.Digest, err)
	}
	return b, err
}

// counter reports the bytes read through it.
type counter struct {
	r      io.Reader
	done   *int64
	total  int64
	report func(done, total int64)
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.done += int64(n)
	c.report(*c.done, c.total)
	return n, err
}

// Dir is a Store that is a bundle directory.
type Dir string

// HasModule implements Store.
func (d Dir) HasModule(sum string) bool {
	_, err := os.Stat(filepath.Join(string(d), bundle.ModulePath(sum)))
	return err == nil
}

// AddModule implements Store.
func (d Dir) AddModule(sum string, module []byte) error {
	if _, got, err := bundle.AddModule(string(d), module); err != nil {
		return err
	} else if got != sum {
		return fmt.Errorf("%w: module %s has sha256 %s", ErrNotBundle, sum, got)
	}
	return nil
}

// PullDir pulls the bundle that ref names into the bundle directory dir
// and makes it current, as a build would. It returns the version id and
// the pinned reference.
func PullDir(ctx context.Context, ref, dir string, opts Options) (version, pinned string, err error) {
	raw, pinned, err := Pull(ctx, ref, Dir(dir), opts)
	if err != nil {
		return "", "", err
	}
	m, err := bundle.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNotBundle, err)
	}
	if version, err = bundle.WriteVersion(dir, m); err != nil {
		return "", "", err
	}
	if err := bundle.SetCurrent(dir, version); err != nil {
		return "", "", err
	}
	return version, pinned, bundle.Prune(dir, bundle.KeepVersions)
}
