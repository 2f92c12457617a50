// Package testserver starts the real servers that tests talk to, such as
// the CNCF distribution registry, each on a free loopback port, and stops
// it by its PID when the test ends.
//
// A server that is not installed skips the test with a message naming the
// Debian package to install, except under CI=true, where it fails it:
// scripts/test installs every server the tests need.
package testserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to say it listens.
const startTimeout = 30 * time.Second

// Need returns the path of the program bin, from the Debian package pkg.
// When it is not installed it skips t, or fails t under CI=true.
func Need(t testing.TB, bin, pkg string) string {
	t.Helper()
	if path, err := exec.LookPath(bin); err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed: apt-get install -y %s (scripts/test installs it)", bin, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a loopback address with a port no one listens on.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The user and password the registry asks for when Registry is started
// with auth; registryHash is the password's bcrypt hash, for its htpasswd.
const (
	// RegistryUser is the user name.
	RegistryUser = "wasmroute"
	// RegistryPassword is RegistryUser's password.
	RegistryPassword = "s3cret-pushing"
	registryHash     = "$2a$05$BJMwlm1VVSYPQ4rmQF/nBuDsq2Yf4xnzQSh0WY.Q2z7j/f9Oaqcfu"
)

// Registry starts the CNCF distribution registry (Debian package
// docker-registry) on a free loopback port, storing in a temporary
// directory, and returns its host:port. With auth, it asks for
// RegistryUser and RegistryPassword.
func Registry(t testing.TB, auth bool) string {
	t.Helper()
	bin := Need(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	addr := FreePort(t)
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: wasmroute-tests
`, filepath.Join(dir, "data"), addr)
	if auth {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(RegistryUser+":"+registryHash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: wasmroute-tests\n    path: %s\n", htpasswd)
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, exec.Command(bin, "serve", path), "listening on "+addr)
	return addr
}

// start runs cmd until the test ends, and returns once a line of its
// output contains ready. It stops the process by its PID at cleanup.
func start(t testing.TB, cmd *exec.Cmd, ready string) {
	t.Helper()
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr // one pipe for both: servers differ in which they log to
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan []string, 1)
	go func() {
		var seen []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if len(seen) < 50 {
				seen = append(seen, sc.Text())
			}
			if strings.Contains(sc.Text(), ready) {
				found <- nil
				_, _ = io.Copy(io.Discard, out) // keep the server from blocking on a full pipe
				return
			}
		}
		found <- seen // it exited without saying it listens
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case seen := <-found:
		if seen != nil {
			t.Fatalf("%s (pid %d) exited before it listened:\n%s", cmd.Path, pid, strings.Join(seen, "\n"))
		}
	case <-timer.C:
		t.Fatalf("%s (pid %s) did not say %q within %s", cmd.Path, strconv.Itoa(pid), ready, startTimeout)
	}
}

// RedisServer is a redis-server process the test started, on a port of
// its own.
type RedisServer struct {
	// Addr is its host:port; URL its redis:// URL.
	Addr, URL string
	t         testing.TB
	bin, dir  string
	cmd       *exec.Cmd
}

// Redis starts redis-server (Debian package redis-server) on a free
// loopback port, without persistence, and stops it when the test ends.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{t: t, bin: Need(t, "redis-server", "redis-server"), dir: t.TempDir(), Addr: FreePort(t)}
	r.URL = "redis://" + r.Addr + "/0"
	r.Start()
	return r
}

// Start starts the server again on the same port, after Stop.
func (r *RedisServer) Start() {
	r.t.Helper()
	_, port, _ := strings.Cut(r.Addr, ":")
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir,
		"--enable-debug-command", "local") // DEBUG SLEEP plays a slow server
	start(r.t, r.cmd, "Ready to accept connections")
}

// Stop kills the server (by its PID), as a crash would, and waits for it.
func (r *RedisServer) Stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}
