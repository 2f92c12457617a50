package build

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDeletedRouteLeavesNoCopy: the copies the build keeps of a route's
// files go when the route does (a route deleted while dev runs).
func TestDeletedRouteLeavesNoCopy(t *testing.T) {
	dir, work := t.TempDir(), t.TempDir()
	var routes []*Route
	for _, id := range []string{"r_a", "r_b"} {
		f := filepath.Join(dir, id, "route.go")
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte("package route\n"), 0o644)
		routes = append(routes, &Route{ID: id, Files: []string{f}})
	}
	if _, err := writeRouteSources(dir, work, routes); err != nil {
		t.Fatal(err)
	}
	if _, err := writeRouteSources(dir, work, routes[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "gen", "r_b")); err == nil {
		t.Fatal("the deleted route's copy is still there")
	}
	if _, err := os.Stat(filepath.Join(work, "gen", "r_a", "route.go")); err != nil {
		t.Fatalf("the kept route's copy: %v", err)
	}
}
