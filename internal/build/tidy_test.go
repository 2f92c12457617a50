package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTidyKeepsWhatBracketRoutesImport: a requirement only a route in an
// [id] folder uses survives Tidy, where go mod tidy -e alone drops it.
func TestTidyKeepsWhatBracketRoutesImport(t *testing.T) {
	root := t.TempDir()
	dep := filepath.Join(root, "dep")
	app := filepath.Join(root, "app")
	files := map[string]string{
		filepath.Join(dep, "go.mod"):                      "module example.com/dep\n\ngo 1.26\n",
		filepath.Join(dep, "dep.go"):                      "package dep\n\n// Name is a name.\nconst Name = \"dep\"\n",
		filepath.Join(app, "go.mod"):                      "module example.com/app\n\ngo 1.26\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ../dep\n",
		filepath.Join(app, "app/api/items/[id]/route.go"): "package route\n\nimport (\n\t\"net/http\"\n\n\t\"example.com/dep\"\n)\n\nfunc GET(w http.ResponseWriter, r *http.Request) { w.Write([]byte(dep.Name)) }\n",
		filepath.Join(app, "app/api/plain/route.go"):      "package route\n\nimport \"net/http\"\n\nfunc GET(w http.ResponseWriter, r *http.Request) {}\n",
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := Tidy(context.Background(), app); err != nil {
		t.Fatalf("Tidy: %v\n%s", err, out)
	}
	gomod, _ := os.ReadFile(filepath.Join(app, "go.mod"))
	if !strings.Contains(string(gomod), "require example.com/dep v0.0.0") {
		t.Fatalf("Tidy dropped the bracket route's requirement:\n%s", gomod)
	}
	if _, err := os.Stat(filepath.Join(app, tidyDir)); err == nil {
		t.Fatal("Tidy left its package behind")
	}
}
