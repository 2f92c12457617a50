package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wasmroute/wasmroute/internal/testserver"
)

// TestServe: serve needs a token, then listens for apps and the admin API.
func TestServe(t *testing.T) {
	data := t.TempDir()
	t.Setenv("WASMROUTE_ADMIN_TOKEN", "")
	if _, err := run(t, context.Background(), "serve", "--data", data); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Fatalf("serve without a token: %v", err)
	}
	t.Setenv("WASMROUTE_ADMIN_TOKEN", "a-token-long-enough-for-this")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urls, done := background(t, ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0"},
		"Listening on ", "Admin API on ")
	public, admin := urls[0], urls[1]
	for _, tt := range []struct {
		url    string
		status int
	}{{admin + "/healthz", 200}, {admin + "/v1/apps", 401}, {public + "/api/hello", 404}} {
		if status, _ := fetch(t, "GET", tt.url, "", nil); status != tt.status {
			t.Errorf("%s: %d, want %d", tt.url, status, tt.status)
		}
	}
	// deploy, a second deploy of a change, versions, rollback.
	repo, _ := filepath.Abs("../..")
	app := filepath.Join(t.TempDir(), "edgeapp")
	if out, err := run(t, ctx, "init", app, "--replace", repo); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	get := func() string {
		status, body := fetch(t, "GET", public+"/api/hello", "", map[string]string{"Host": "edgeapp.example.com"})
		return fmt.Sprintf("%d %s", status, body)
	}
	client := []string{"--to", admin, "--app", "edgeapp", "--token", "a-token-long-enough-for-this"}
	out, err := run(t, ctx, append([]string{"deploy", app, "--domain", "edgeapp.example.com"}, client...)...)
	if err != nil || !strings.Contains(out, "Deployed edgeapp: version ") {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	first := strings.TrimSpace(out[strings.LastIndex(out, " ")+1:])
	if got := get(); got != `200 {"message":"Hello from wasmroute"}` {
		t.Fatalf("after deploy: %s", got)
	}
	route := filepath.Join(app, "app/api/hello/route.go")
	src, _ := os.ReadFile(route)
	os.WriteFile(route, []byte(strings.Replace(string(src), " from wasmroute", " again", 1)), 0o644)
	if out, err := run(t, ctx, append([]string{"deploy", app}, client...)...); err != nil || strings.Contains(out, first) {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if got := get(); got != `200 {"message":"Hello again"}` {
		t.Fatalf("after the second deploy: %s", got)
	}
	if out, err := run(t, ctx, "versions", "--to", admin, "--app", "edgeapp", "--token", "a-token-long-enough-for-this"); err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "  "+first) {
		t.Fatalf("versions: %v\n%s", err, out)
	}
	if out, err := run(t, ctx, append([]string{"rollback"}, client...)...); err != nil || !strings.Contains(out, first) {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if got := get(); got != `200 {"message":"Hello from wasmroute"}` {
		t.Fatalf("after the rollback: %s", got)
	}
	if out, err := run(t, ctx, append([]string{"revalidate", "--tag", "posts", "--path", "/api/hello"}, client...)...); err != nil || !strings.Contains(out, "Revalidated edgeapp: tags [posts], paths [/api/hello]") {
		t.Fatalf("revalidate: %v\n%s", err, out)
	}
	if out, err := run(t, ctx, append([]string{"revalidate", "--path", "api/hello"}, client...)...); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("revalidate a path without /: %v\n%s", err, out)
	}
	t.Run("registry", func(t *testing.T) { testRegistry(t, ctx, app, client, get) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestDeployCrashes kills `wasmroute serve` (a real process, exit 137 with
// no cleanup, as kill -9) at each step of a second deploy, restarts it, and
// checks that the app serves the old version or the new one, whole, and
// that the host's current version is the one answering.
func TestDeployCrashes(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	bin := filepath.Join(t.TempDir(), "wasmroute")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the CLI: %v\n%s", err, out)
	}
	app := filepath.Join(t.TempDir(), "crashapp")
	if out, err := run(t, context.Background(), "init", app, "--replace", repo); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	route := filepath.Join(app, "app/api/hello/route.go")
	v1src, _ := os.ReadFile(route)
	const token = "a-token-long-enough-for-this"
	tests := []struct {
		point string
		want  string // the message the app answers after the restart
	}{
		{"deploy-linked", "Hello from wasmroute"},
		{"deploy-version-written", "Hello from wasmroute"},
		{"deploy-started", "Hello from wasmroute"},
		{"deploy-switched", "Hello v2"},
	}
	for _, tt := range tests {
		t.Run(tt.point, func(t *testing.T) {
			data := t.TempDir()
			start := func(failpoint string) (*exec.Cmd, string, string) { return startServe(t, bin, data, token, failpoint) }
			deploy := func(admin string) error {
				_, err := run(t, context.Background(), "deploy", app, "--to", admin, "--app", "crash", "--domain", "crash.test", "--token", token)
				return err
			}
			os.WriteFile(route, v1src, 0o644)
			cmd, _, admin := start("")
			if err := deploy(admin); err != nil {
				t.Fatal(err)
			}
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()

			os.WriteFile(route, []byte(strings.Replace(string(v1src), " from wasmroute", " v2", 1)), 0o644)
			cmd, _, admin = start(tt.point)
			if err := deploy(admin); err == nil {
				t.Fatal("the deploy succeeded through its crash")
			}
			if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 137 {
				t.Fatalf("serve did not crash at %s: %v", tt.point, err)
			}

			cmd, public, admin := start("")
			defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
			if status, body := fetch(t, "GET", public+"/api/hello", "", map[string]string{"Host": "crash.test"}); status != 200 || !strings.Contains(body, tt.want) {
				t.Fatalf("after a crash at %s: %d %s, want %q", tt.point, status, body, tt.want)
			}
			out, err := run(t, context.Background(), "versions", "--to", admin, "--app", "crash", "--token", token)
			if err != nil || !strings.Contains(out, "* ") {
				t.Fatalf("versions after the crash: %v\n%s", err, out)
			}
		})
	}

	// SIGTERM: the host stops accepting, and a response in flight (the
	// scaffold's stream, five lines 100 ms apart) finishes whole.
	t.Run("SIGTERM drains", func(t *testing.T) {
		os.WriteFile(route, v1src, 0o644)
		cmd, public, admin := startServe(t, bin, t.TempDir(), token, "")
		defer cmd.Process.Kill()
		if out, err := run(t, context.Background(), "deploy", app, "--to", admin, "--app", "drain", "--domain", "drain.test", "--token", token); err != nil {
			t.Fatalf("deploy: %v\n%s", err, out)
		}
		req, _ := http.NewRequest("GET", public+"/api/stream", nil)
		req.Host = "drain.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body := bufio.NewReader(resp.Body)
		if line, err := body.ReadString('\n'); err != nil || line != "line 1\n" {
			t.Fatalf("first line %q %v", line, err)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		rest, err := io.ReadAll(body)
		if err != nil || string(rest) != "line 2\nline 3\nline 4\nline 5\n" {
			t.Errorf("after SIGTERM the stream went on with %q, %v", rest, err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
		if _, err := http.Get(public + "/api/hello"); err == nil {
			t.Error("the host still accepts after SIGTERM")
		}
	})
}

// startServe runs `wasmroute serve` as a real process on data, ending it at
// failpoint if one is named, and returns it with its public and admin URLs.
func startServe(t *testing.T, bin, data, token, failpoint string) (*exec.Cmd, string, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--log-level", "error")
	cmd.Env = append(os.Environ(), "WASMROUTE_ADMIN_TOKEN="+token, "WASMROUTE_FAILPOINT="+failpoint)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := awaitURLs(out, "Listening on ", "Admin API on ")
	return cmd, urls[0], urls[1]
}

// testRegistry pushes the app to a real CNCF registry that asks for a
// password, pulls it back and serves it with start, and deploys it to the
// running edge host from the registry; then it checks that a registry that
// is down or lacks the reference gives a clear error from push, pull and
// deploy --from, and that the host keeps serving what it had.
func testRegistry(t *testing.T, ctx context.Context, app string, client []string, get func() string) {
	reg := testserver.Registry(t, true)
	ref := reg + "/acme/edgeapp:v2"
	docker := t.TempDir()
	t.Setenv("DOCKER_CONFIG", docker)
	if out, err := run(t, ctx, "push", app, ref); err == nil || !strings.Contains(err.Error(), "asks for a login") {
		t.Fatalf("push without credentials: %v\n%s", err, out)
	}
	login := func(password string) {
		auth := base64.StdEncoding.EncodeToString([]byte(testserver.RegistryUser + ":" + password))
		os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths":{"`+reg+`":{"auth":"`+auth+`"}}}`), 0o600)
	}
	login("wrong")
	if out, err := run(t, ctx, "push", app, ref); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push with a wrong password: %v\n%s", err, out)
	}
	login(testserver.RegistryPassword)
	out, err := run(t, ctx, "push", app, ref)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	pinned := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if !strings.HasPrefix(pinned, reg+"/acme/edgeapp@sha256:") {
		t.Fatalf("push printed %q, want a reference pinned by digest", out)
	}
	if again, err := run(t, ctx, "push", app, ref); err != nil || !strings.HasSuffix(strings.TrimSpace(again), pinned) {
		t.Fatalf("pushing the same version again: %v\n%s", err, again)
	}

	// pull, then start serves what was pulled.
	pulled := t.TempDir()
	if out, err := run(t, ctx, "pull", pinned, pulled); err != nil || !strings.Contains(out, "Pulled "+pinned) {
		t.Fatalf("pull: %v\n%s", err, out)
	}
	sctx, stop := context.WithCancel(ctx)
	urls, done := background(t, sctx, []string{"start", pulled, "--addr", "127.0.0.1:0"}, "Listening on ")
	if status, body := fetch(t, "GET", urls[0]+"/api/hello", "", nil); status != 200 || body != `{"message":"Hello again"}` {
		t.Errorf("the pulled bundle answers %d %s", status, body)
	}
	stop()
	<-done

	// deploy --from: the host pulls by tag and reports the digest.
	if out, err := run(t, ctx, append([]string{"deploy", "--from", ref}, client...)...); err != nil || !strings.Contains(out, "Deployed edgeapp from "+pinned) {
		t.Fatalf("deploy --from: %v\n%s", err, out)
	}
	if got := get(); got != `200 {"message":"Hello again"}` {
		t.Fatalf("after deploy --from: %s", got)
	}

	down := testserver.FreePort(t) + "/acme/edgeapp:v2"
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"push to a registry that is down", []string{"push", app, down}, "connection refused"},
		{"pull from a registry that is down", []string{"pull", down, t.TempDir()}, "connection refused"},
		{"deploy from a registry that is down", append([]string{"deploy", "--from", down}, client...), "502: pull"},
		{"deploy a tag the registry lacks", append([]string{"deploy", "--from", reg + "/acme/edgeapp:v9"}, client...), "not found"},
		{"deploy what is not a reference", append([]string{"deploy", "--from", "not a reference"}, client...), "400"},
	} {
		if out, err := run(t, ctx, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q\n%s", tt.name, err, tt.want, out)
		}
		if got := get(); got != `200 {"message":"Hello again"}` {
			t.Fatalf("after %s: %s", tt.name, got)
		}
	}
}
