package build

import (
	"bytes"
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// tidyDir is the package Tidy writes for the length of a go mod tidy.
const tidyDir = "zz_wasmroute_tidy"

// unnamable matches a path element Go rejects in an import path, such as
// [id] or (group).
var unnamable = regexp.MustCompile(`[^A-Za-z0-9._~+-]`)

// Tidy runs go mod tidy in the app's module. Go cannot name the packages in
// route folders such as [id] or (group), so on its own go mod tidy fails,
// and with -e it would drop the requirements only those routes use. Tidy
// writes, for the time of the command, a package that imports what those
// routes import, under a build tag go build never sets (go mod tidy
// considers every tag), and runs go mod tidy -e.
func Tidy(ctx context.Context, dir string) ([]byte, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	modRoot, _, err := findModule(dir)
	if err != nil {
		return nil, err
	}
	routes, err := Discover(dir)
	if err != nil {
		return nil, err
	}
	imports := map[string]bool{}
	for _, r := range routes {
		rel, err := filepath.Rel(modRoot, r.Dir)
		if err != nil || !unnamable.MatchString(strings.ReplaceAll(filepath.ToSlash(rel), "/", "")) {
			continue // go mod tidy sees this one itself
		}
		for _, f := range r.Files {
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, imp := range file.Imports {
				if p, err := strconv.Unquote(imp.Path.Value); err == nil {
					imports[p] = true
				}
			}
		}
	}
	if len(imports) > 0 {
		list := make([]string, 0, len(imports))
		for p := range imports {
			list = append(list, p)
		}
		sort.Strings(list)
		var b bytes.Buffer
		b.WriteString("//go:build wasmroute_tidy\n\n// Package tidy is written by wasmroute tidy for the time of go mod tidy.\npackage tidy\n\nimport (\n")
		for _, p := range list {
			fmt.Fprintf(&b, "\t_ %q\n", p)
		}
		b.WriteString(")\n")
		pkg := filepath.Join(modRoot, tidyDir)
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			return nil, err
		}
		defer os.RemoveAll(pkg)
		if err := os.WriteFile(filepath.Join(pkg, "imports.go"), b.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy", "-e")
	cmd.Dir = modRoot
	out, err := cmd.CombinedOutput()
	// -e reports the folders Go cannot name, which the package above stood
	// in for; anything else is the user's to see.
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "malformed import path") {
			kept = append(kept, line)
		}
	}
	msg := []byte(strings.Join(kept, "\n"))
	if err != nil {
		return msg, fmt.Errorf("go mod tidy: %v\n%s", err, msg)
	}
	return msg, nil
}
