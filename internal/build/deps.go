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
)

// Deps returns, for each route ID, the directories of the app's own packages
// the route's module is built from: the route folder itself and every local
// package it imports, directly or not. `wasmroute dev` rebuilds a route when
// a file in one of them changes. It needs the overlay of a previous Build.
func Deps(ctx context.Context, dir string, routes []*Route) (map[string][]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	work, err := workDir(dir)
	if err != nil {
		return nil, err
	}
	overlay := filepath.Join(work, "overlay.json")
	args := []string{"list", "-e", "-deps", "-overlay", overlay, "-json=ImportPath,Dir,Standard,Deps,Module"}
	for _, r := range routes {
		args = append(args, "./"+genDir+"/"+r.ID)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.String())
	}
	type pkg struct {
		ImportPath string
		Dir        string
		Standard   bool
		Deps       []string
		Module     *struct{ Main bool }
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		pkgs[p.ImportPath] = p
	}
	virtualToReal := map[string]string{}
	for _, r := range routes {
		virtualToReal[filepath.Join(dir, genDir, r.ID, "route")] = r.Dir
	}
	res := map[string][]string{}
	for _, r := range routes {
		var main *pkg
		for _, p := range pkgs {
			if p.Dir == filepath.Join(dir, genDir, r.ID) {
				main = p
			}
		}
		if main == nil {
			continue
		}
		dirs := []string{r.Dir}
		for _, imp := range main.Deps {
			p := pkgs[imp]
			if p == nil || p.Standard || p.Module == nil || !p.Module.Main {
				continue
			}
			if real, ok := virtualToReal[p.Dir]; ok {
				if real != r.Dir {
					dirs = append(dirs, real)
				}
				continue
			}
			dirs = append(dirs, p.Dir)
		}
		res[r.ID] = dirs
	}
	return res, nil
}
