package kv

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBoltHeldByAnother: a second opener of one store is told what to do.
func TestBoltHeldByAnother(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	first, err := OpenBolt(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	_, err = OpenBolt(path, 0)
	if err == nil || !strings.Contains(err.Error(), "another process holds it") || !strings.Contains(err.Error(), "--kv-memory") {
		t.Fatalf("second open: %v", err)
	}
}
