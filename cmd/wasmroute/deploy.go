package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/build"
	"github.com/wasmroute/wasmroute/internal/progress"
)

// adminClient talks to an edge host's admin API.
type adminClient struct {
	url, token string
	http       *http.Client
}

func newAdminClient(url, token string) (*adminClient, error) {
	if url == "" {
		return nil, errors.New("--to: give the admin API of the edge host, such as http://edge:9090")
	}
	if token == "" {
		token = os.Getenv("WASMROUTE_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no token: set WASMROUTE_TOKEN or --token")
	}
	return &adminClient{url: strings.TrimSuffix(url, "/"), token: token, http: &http.Client{Timeout: 10 * time.Minute}}, nil
}

// do sends a request and decodes a JSON answer into out (nil: none); a
// status of 400 or more is an error carrying the host's reason.
func (c *adminClient) do(method, path string, body io.Reader, out any) (int, error) {
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return resp.StatusCode, fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	if out != nil && len(b) > 0 {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// deployed is what a deploy answers: the version, the reference pulled,
// and the host's steps.
type deployed struct {
	Version, Ref string
	Steps        []struct {
		Name    string
		Seconds float64
	}
	Error  string
	Status int
}

// deploy posts a deploy and shows each of the host's steps as it starts:
// the host streams them as NDJSON, then the result.
func (c *adminClient) deploy(app string, body []byte, pr *progress.Printer) (*deployed, error) {
	path := "/v1/apps/" + app + "/deploy"
	req, err := http.NewRequest("POST", c.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-ndjson" {
		// Refused before it began (a bad token, a malformed request).
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Error string }
		_ = json.Unmarshal(b, &e)
		return nil, fmt.Errorf("POST %s: %d: %s", path, resp.StatusCode, e.Error)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		var ev struct{ Step string }
		if json.Unmarshal(lines.Bytes(), &ev) == nil && ev.Step != "" {
			pr.Step("  on the host: " + ev.Step)
			continue
		}
		var res deployed
		if err := json.Unmarshal(lines.Bytes(), &res); err != nil {
			return nil, fmt.Errorf("POST %s: %w", path, err)
		}
		if res.Error != "" {
			return nil, fmt.Errorf("POST %s: %d: %s", path, res.Status, res.Error)
		}
		return &res, nil
	}
	return nil, fmt.Errorf("POST %s: the host ended the answer early: %v", path, lines.Err())
}

func newDeployCmd() *cobra.Command {
	var to, app, token, from string
	var domains []string
	cmd := &cobra.Command{
		Use:   "deploy [DIR | --from REF] --to URL --app NAME [--domain HOST]...",
		Short: "Deploy the app in DIR, or a bundle in a registry, to an edge host (wasmroute serve)",
		Long: `Deploy builds the app in DIR when its bundle is missing or older than its
sources, uploads the modules the host lacks, and deploys the version: the
host starts it and switches to it only if it starts. With --from, the host
pulls the bundle from an OCI registry itself (see 'wasmroute push'). It
prints the version id. The token comes from WASMROUTE_TOKEN or --token.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(to, token)
			if err != nil {
				return err
			}
			if app == "" {
				return errors.New("--app: name the app on the host")
			}
			if from != "" && len(args) > 0 {
				return errors.New("give a DIR or --from REF, not both")
			}
			pr := progress.New(cmd.ErrOrStderr())
			defer pr.Done()
			req := map[string]any{"domains": domainsOrNil(domains)}
			if from != "" {
				req["ref"] = from
				pr.Step(fmt.Sprintf("deploying %s to %s", from, app))
			} else {
				dir := appDir(args)
				manifest, err := upload(cmd, c, pr, dir)
				if err != nil {
					return err
				}
				req["manifest"] = json.RawMessage(manifest)
				pr.Step(fmt.Sprintf("deploying %.12s to %s", bundle.Sum(manifest), app))
			}
			body, _ := json.Marshal(req)
			res, err := c.deploy(app, body, pr)
			if err != nil {
				return err
			}
			pr.Done()
			var steps []string
			for _, s := range res.Steps {
				steps = append(steps, fmt.Sprintf("%s %.2fs", s.Name, s.Seconds))
			}
			pr.Line("  on the host: " + strings.Join(steps, ", "))
			if res.Ref != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Deployed %s from %s: version %s\n", app, res.Ref, res.Version)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Deployed %s: version %s\n", app, res.Version)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the edge host's admin API (http://HOST:PORT)")
	cmd.Flags().StringVar(&app, "app", "", "the app's name on the host")
	cmd.Flags().StringVar(&from, "from", "", "an OCI reference the host pulls the bundle from (registry/repo:tag or @sha256:...)")
	cmd.Flags().StringArrayVar(&domains, "domain", nil, "a host name the app serves, such as api.example.com or *.example.com (repeatable; default: the ones it had)")
	cmd.Flags().StringVar(&token, "token", "", "admin token (default $WASMROUTE_TOKEN)")
	return cmd
}

// builtBundle builds the app in dir if its bundle is missing or older than
// its sources, and returns the bundle directory and its current manifest.
func builtBundle(cmd *cobra.Command, pr *progress.Printer, dir string) (string, *bundle.Manifest, error) {
	bundleDir := filepath.Join(dir, bundle.DirName)
	if stale(dir, bundleDir) {
		pr.Step("building " + dir)
		if _, err := build.Build(cmd.Context(), dir, build.Options{}); err != nil {
			return "", nil, err
		}
	}
	m, err := bundle.Load(bundleDir)
	return bundleDir, m, err
}

// upload builds the app in dir if it must, sends the host the modules it
// lacks, and returns the manifest to deploy.
func upload(cmd *cobra.Command, c *adminClient, pr *progress.Printer, dir string) ([]byte, error) {
	bundleDir, m, err := builtBundle(cmd, pr, dir)
	if err != nil {
		return nil, err
	}
	var missing []bundle.Module
	var total int64
	for _, mod := range m.Modules {
		if status, _ := c.do("HEAD", "/v1/modules/"+mod.SHA256, nil, nil); status != http.StatusOK {
			missing = append(missing, mod)
			total += mod.Size
		}
	}
	var done int64
	for _, mod := range missing {
		pr.Step(fmt.Sprintf("uploading module %.12s (%.1f MB)", mod.SHA256, float64(mod.Size)/1e6))
		bin, err := bundle.ReadModule(bundleDir, mod)
		if err != nil {
			return nil, err
		}
		if _, err := c.do("PUT", "/v1/modules/"+mod.SHA256, pr.Count(bytes.NewReader(bin), &done, total), nil); err != nil {
			return nil, err
		}
	}
	return os.ReadFile(filepath.Join(bundleDir, bundle.VersionsDir, m.Version+".json"))
}

func domainsOrNil(d []string) []string {
	if len(d) == 0 {
		return nil
	}
	return d
}

// stale reports whether the bundle in bundleDir is missing or older than a
// source of the app in dir (a .go file, go.mod, go.sum or wasmroute.toml).
func stale(dir, bundleDir string) bool {
	info, err := os.Stat(filepath.Join(bundleDir, bundle.CurrentName))
	if err != nil {
		return true
	}
	built := info.ModTime()
	newer := false
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || newer {
			return filepath.SkipAll
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		name := d.Name()
		if !d.IsDir() && (strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" || name == "wasmroute.toml") {
			if fi, err := d.Info(); err == nil && fi.ModTime().After(built) {
				newer = true
			}
		}
		return nil
	})
	return newer
}

func newRollbackCmd() *cobra.Command {
	var to, app, token, version string
	cmd := &cobra.Command{
		Use:   "rollback --to URL --app NAME [--version ID]",
		Short: "Make an earlier version of an app current on an edge host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(to, token)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"version": version})
			var res struct{ Version string }
			if _, err := c.do("POST", "/v1/apps/"+app+"/rollback", bytes.NewReader(body), &res); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rolled %s back: version %s\n", app, res.Version)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the edge host's admin API (http://HOST:PORT)")
	cmd.Flags().StringVar(&app, "app", "", "the app's name on the host")
	cmd.Flags().StringVar(&version, "version", "", "the version to make current (default: the one before the current one)")
	cmd.Flags().StringVar(&token, "token", "", "admin token (default $WASMROUTE_TOKEN)")
	return cmd
}

func newRevalidateCmd() *cobra.Command {
	var to, app, token string
	var tags, paths []string
	var expire bool
	cmd := &cobra.Command{
		Use:   "revalidate --to URL --app NAME [--tag TAG]... [--path PATH]... [--expire]",
		Short: "Mark an app's cached responses stale on an edge host, by tag or path",
		Long: `Revalidate does from outside what a handler's guest.RevalidateTag and
guest.RevalidatePath do: the next request for each response tagged TAG, or
to PATH, gets the stale copy while the host regenerates it. With --expire
the next request waits for a new one instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(to, token)
			if err != nil {
				return err
			}
			if len(tags)+len(paths) == 0 {
				return errors.New("name a --tag or a --path")
			}
			body, _ := json.Marshal(map[string]any{"tags": tags, "paths": paths, "expire": expire})
			if _, err := c.do("POST", "/v1/apps/"+app+"/revalidate", bytes.NewReader(body), nil); err != nil {
				return err
			}
			what := "Revalidated"
			if expire {
				what = "Expired"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: tags %v, paths %v\n", what, app, tags, paths)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the edge host's admin API (http://HOST:PORT)")
	cmd.Flags().StringVar(&app, "app", "", "the app's name on the host")
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a cache tag (repeatable)")
	cmd.Flags().StringArrayVar(&paths, "path", nil, "a path, such as /api/posts (repeatable)")
	cmd.Flags().BoolVar(&expire, "expire", false, "expire at once rather than serve stale while regenerating")
	cmd.Flags().StringVar(&token, "token", "", "admin token (default $WASMROUTE_TOKEN)")
	return cmd
}

func newVersionsCmd() *cobra.Command {
	var to, app, token string
	cmd := &cobra.Command{
		Use:   "versions --to URL --app NAME",
		Short: "List the versions of an app an edge host keeps, the current one marked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newAdminClient(to, token)
			if err != nil {
				return err
			}
			var apps []struct {
				Name, Version string
				Versions      []string
				Domains       []string
			}
			if _, err := c.do("GET", "/v1/apps", nil, &apps); err != nil {
				return err
			}
			for _, a := range apps {
				if a.Name != app {
					continue
				}
				for _, v := range a.Versions {
					mark := " "
					if v == a.Version {
						mark = "*"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", mark, v)
				}
				return nil
			}
			return fmt.Errorf("the host has no app %q", app)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the edge host's admin API (http://HOST:PORT)")
	cmd.Flags().StringVar(&app, "app", "", "the app's name on the host")
	cmd.Flags().StringVar(&token, "token", "", "admin token (default $WASMROUTE_TOKEN)")
	return cmd
}
