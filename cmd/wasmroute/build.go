package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/internal/build"
	"github.com/wasmroute/wasmroute/internal/progress"
)

func newBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build [DIR]",
		Short: "Compile the app under DIR/app to WebAssembly and write the bundle to DIR/.wasmroute",
		Long: `Build finds every route.go under DIR/app (DIR defaults to "."), links every
route and the middleware into one WASI module (GOOS=wasip1 GOARCH=wasm) with a
generated dispatcher, and adds it to DIR/.wasmroute as a new version of the
bundle: modules/<sha256>.wasm and versions/<sha256>.json, named by their
digests, and current, switched atomically. Routes that use the network get a
module of their own. It prints the route table and each module's size.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pr := progress.New(cmd.ErrOrStderr())
			step := func(line string) {
				if strings.HasPrefix(line, "compiling") {
					pr.Step(line)
				} else {
					pr.Line(line)
				}
			}
			res, err := build.Build(cmd.Context(), appDir(args), build.Options{Progress: step})
			if err == nil {
				pr.Step("starting the app's modules once")
				err = checkStarts(cmd.Context(), appDir(args))
			}
			pr.Done()
			if err != nil {
				return err
			}
			printBuild(cmd.OutOrStdout(), res)
			return nil
		},
	}
}

// printBuild prints the route table, the modules and the build time.
func printBuild(w io.Writer, res *build.Result) {
	printWarnings(w, res.Routes)
	printRoutes(w, res.Manifest)
	if mw := res.Manifest.Middleware; mw != nil {
		printMiddleware(w, mw.Source, mw.Matcher)
	}
	printNetwork(w, res.Manifest)
	fmt.Fprintln(w)
	printModules(w, res.Manifest, res.Modules)
	fmt.Fprintf(w, "\nBuilt %d routes in %.1fs: version %.12s\n", len(res.Manifest.Routes), res.Duration.Seconds(), res.Manifest.Version)
}

func printWarnings(w io.Writer, routes []*build.Route) {
	for _, r := range routes {
		for _, warning := range r.Warnings {
			fmt.Fprintln(w, "warning:", warning)
		}
	}
}

// moduleName names a module of the manifest in the tables: "app", or "net"
// for the module of the routes that use the network.
func moduleName(m *bundle.Manifest, i int) string {
	if i < 0 || i >= len(m.Modules) {
		return "-"
	}
	if m.Modules[i].Network {
		return "net"
	}
	return "app"
}

// printRoutes prints the route table: each route's pattern, methods,
// module and source file.
func printRoutes(w io.Writer, m *bundle.Manifest) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Route\tMethods\tModule\tSource")
	for _, r := range m.Routes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Pattern, strings.Join(r.Methods, ", "), moduleName(m, r.Module), r.Source)
	}
	tw.Flush()
}

// printModules prints each module's name, size, digest and route count,
// and whether this build compiled it (infos, when known).
func printModules(w io.Writer, m *bundle.Manifest, infos []build.ModuleInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Module\tSize\tRoutes\tDigest\tBuild")
	for i, mod := range m.Modules {
		n := 0
		for _, r := range m.Routes {
			if r.Module == i {
				n++
			}
		}
		state := "-"
		if i < len(infos) {
			state = "kept"
			if infos[i].Compiled {
				state = "compiled"
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f MB\t%d\t%.12s\t%s\n", moduleName(m, i), float64(mod.Size)/1e6, n, mod.SHA256, state)
	}
	tw.Flush()
}

// printMiddleware prints the middleware line under the route table.
func printMiddleware(w io.Writer, source string, matcher []string) {
	on := "every path"
	if len(matcher) > 0 {
		on = strings.Join(matcher, ", ")
	}
	fmt.Fprintf(w, "Middleware: %s on %s\n", source, on)
}

// printNetwork names the routes that use the network and what they may
// reach, or warns when they may reach nothing.
func printNetwork(w io.Writer, m *bundle.Manifest) {
	var routes []string
	for _, r := range m.Routes {
		if r.Module < len(m.Modules) && m.Modules[r.Module].Network {
			routes = append(routes, r.Pattern)
		}
	}
	if len(routes) == 0 {
		return
	}
	if allow := m.App.AllowedOutboundHosts; len(allow) > 0 {
		fmt.Fprintf(w, "Network: %s may connect to %s\n", strings.Join(routes, ", "), strings.Join(allow, ", "))
		return
	}
	fmt.Fprintf(w, "warning: %s use the network, but wasmroute.toml has no allowed_outbound_hosts: every connection will be refused\n",
		strings.Join(routes, ", "))
}

// checkStarts starts one instance of each module of the app built in dir,
// so that what fails only when a module initialises (a package init that
// panics, a method var of the wrong type) is a build error naming the
// file, not a 500 for every request later. The module answers from the
// interpreter at once; the compiler fills the compilation cache meanwhile,
// for the next start.
func checkStarts(ctx context.Context, dir string) error {
	var logs bytes.Buffer
	h, err := host.New(filepath.Join(dir, bundle.DirName), host.Options{
		Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		FastStart:    true,
		LookupSecret: func(string) (string, bool) { return "", true }, // secrets are the host's, at start
	})
	if err != nil {
		return err
	}
	defer h.Close(ctx)
	if err := h.Warm(ctx); err != nil {
		// The guest's own words: its panic, which names the file.
		for _, line := range strings.Split(logs.String(), "\n") {
			if i := strings.Index(line, "msg=\"panic: "); i >= 0 {
				msg := line[i+len("msg=\"panic: "):]
				if j := strings.Index(msg, "\" "); j >= 0 {
					msg = msg[:j]
				}
				return fmt.Errorf("the app's module fails as it initialises: %s", strings.ReplaceAll(msg, `\"`, `"`))
			}
		}
		return fmt.Errorf("the app's module fails as it initialises: %w", err)
	}
	return nil
}
