package build

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Test runs go test on the app in dir with args (go test flags), route
// folders Go cannot name ([id], [...path], (group)) included: their files,
// tests too, are mapped through an overlay to packages it can name, as
// `wasmroute build` does, and the output names the folders again. go test
// runs vet's checks on every package it tests.
func Test(ctx context.Context, dir string, args []string, stdout, stderr io.Writer) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	modRoot, modPath, err := findModule(dir)
	if err != nil {
		return err
	}
	routes, err := Discover(dir)
	if err != nil {
		return err
	}
	work, err := workDir(dir)
	if err != nil {
		return err
	}
	base, err := importBase(dir, modRoot, modPath)
	if err != nil {
		return err
	}
	replace := map[string]string{}
	var virtual []string
	rename := map[string]string{} // virtual import path -> the folder, as an import path would read
	for _, r := range routes {
		rel, err := filepath.Rel(modRoot, r.Dir)
		if err != nil || !unnamable.MatchString(strings.ReplaceAll(filepath.ToSlash(rel), "/", "")) {
			continue
		}
		entries, err := os.ReadDir(r.Dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
				continue
			}
			f := filepath.Join(r.Dir, e.Name())
			src, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			copyPath := filepath.Join(work, "gen-test", r.ID, e.Name())
			if _, err := writeFileIfChanged(copyPath, append([]byte("//line "+f+":1:1\n"), src...)); err != nil {
				return err
			}
			replace[filepath.Join(dir, genDir, r.ID, "route", e.Name())] = copyPath
		}
		virtual = append(virtual, "./"+genDir+"/"+r.ID+"/route")
		relDir, _ := filepath.Rel(dir, r.Dir)
		rename[base+"/"+genDir+"/"+r.ID+"/route"] = base + "/" + filepath.ToSlash(relDir)
	}
	// go test runs vet in each package's directory: the mapped ones get
	// empty directories for the time of the run.
	if len(virtual) > 0 {
		defer os.RemoveAll(filepath.Join(dir, genDir))
		for _, v := range virtual {
			if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(v)), 0o755); err != nil {
				return err
			}
		}
	}
	overlay := filepath.Join(work, "overlay-test.json")
	if err := writeOverlay(overlay, replace); err != nil {
		return err
	}
	// The packages Go can name, from go list, and the mapped ones.
	list := exec.CommandContext(ctx, "go", "list", "-e", "-f", "{{if not .Error}}{{.ImportPath}}{{end}}", "./...")
	list.Dir = dir
	out, err := list.Output()
	if err != nil {
		return fmt.Errorf("go list: %w", err)
	}
	pkgs := strings.Fields(string(out))
	pkgs = append(pkgs, virtual...)
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"test", "-overlay", overlay}, args...), pkgs...)...)
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			for from, to := range rename {
				line = strings.ReplaceAll(line, from, to)
			}
			fmt.Fprintln(stdout, line)
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	return err
}
