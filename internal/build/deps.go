package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// networkPackages is the prefix of the packages that give a guest sockets
// (github.com/stealthrocket/net): a route that imports one, directly or
// not, runs on the host's network runtime.
const networkPackages = "github.com/stealthrocket/net/"

// routeDeps lists, through the overlay, what each route's package is built
// from: for each route ID, the directories of the app's own packages (its
// folder and every local package it imports, directly or not), and whether
// it imports the network packages.
func routeDeps(ctx context.Context, dir, overlay string, routes []*Route) (deps map[string][]string, network map[string]bool, err error) {
	args := []string{"list", "-e", "-deps", "-tags=getaddrinfo", "-overlay", overlay, "-json=ImportPath,Dir,Standard,Deps,Module"}
	for _, r := range routes {
		args = append(args, "./"+genDir+"/"+r.ID+"/route")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %v\n%s", err, stderr.String())
	}
	type pkg struct {
		ImportPath string
		Dir        string
		Standard   bool
		Deps       []string
		Module     *struct{ Main bool }
	}
	byDir := map[string]*pkg{}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, err
		}
		pkgs[p.ImportPath] = p
		byDir[p.Dir] = p
	}
	virtualToReal := map[string]string{}
	for _, r := range routes {
		virtualToReal[filepath.Join(dir, genDir, r.ID, "route")] = r.Dir
	}
	deps, network = map[string][]string{}, map[string]bool{}
	for _, r := range routes {
		p := byDir[filepath.Join(dir, genDir, r.ID, "route")]
		if p == nil {
			continue
		}
		dirs := []string{r.Dir}
		for _, imp := range p.Deps {
			if strings.HasPrefix(imp, networkPackages) {
				network[r.ID] = true
			}
			d := pkgs[imp]
			if d == nil || d.Standard || d.Module == nil || !d.Module.Main {
				continue
			}
			if real, ok := virtualToReal[d.Dir]; ok {
				if real != r.Dir {
					dirs = append(dirs, real)
				}
				continue
			}
			dirs = append(dirs, d.Dir)
		}
		deps[r.ID] = dirs
	}
	return deps, network, nil
}
