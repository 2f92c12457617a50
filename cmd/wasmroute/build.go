package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/build"
)

func newBuildCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "build [DIR]",
		Short: "Compile every route under DIR/app to WebAssembly and write the bundle to DIR/.wasmroute",
		Long: `Build finds every route.go under DIR/app (DIR defaults to "."), compiles each
route to a WASI module with GOOS=wasip1 GOARCH=wasm, and writes DIR/.wasmroute:
manifest.json and one module per route. It prints the route table.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := build.Build(cmd.Context(), appDir(args), build.Options{})
			if err != nil {
				return err
			}
			printBuild(cmd.OutOrStdout(), res)
			return nil
		},
	}
}

// printBuild prints the route table and the build time.
func printBuild(w io.Writer, res *build.Result) {
	printWarnings(w, res.Routes)
	printRoutes(w, res.Manifest.Routes)
	if mw := res.Manifest.Middleware; mw != nil {
		printMiddleware(w, mw.Source, mw.Matcher, mw.Size)
	}
	printNetwork(w, res.Manifest)
	fmt.Fprintf(w, "\nBuilt %d routes (%d compiled) in %.1fs: version %.12s\n", len(res.Manifest.Routes), len(res.Compiled), res.Duration.Seconds(), res.Manifest.Version)
}

func printWarnings(w io.Writer, routes []*build.Route) {
	for _, r := range routes {
		for _, warning := range r.Warnings {
			fmt.Fprintln(w, "warning:", warning)
		}
	}
}

func printRoutes(w io.Writer, routes []bundle.Route) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Route\tMethods\tSize\tSource")
	for _, r := range routes {
		size := "-"
		if r.Size > 0 {
			size = fmt.Sprintf("%.1f MB", float64(r.Size)/1e6)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Pattern, joinMethods(r.Methods), size, r.Source)
	}
	tw.Flush()
}

// printMiddleware prints the middleware line under the route table.
func printMiddleware(w io.Writer, source string, matcher []string, size int64) {
	on := "every path"
	if len(matcher) > 0 {
		on = strings.Join(matcher, ", ")
	}
	sizeText := ""
	if size > 0 {
		sizeText = fmt.Sprintf(", %.1f MB", float64(size)/1e6)
	}
	fmt.Fprintf(w, "Middleware: %s on %s%s\n", source, on, sizeText)
}

// printNetwork names the routes that use the network and what they may
// reach, or warns when they may reach nothing.
func printNetwork(w io.Writer, m *bundle.Manifest) {
	var routes []string
	for _, r := range m.Routes {
		if r.Network {
			routes = append(routes, r.Pattern)
		}
	}
	if m.Middleware != nil && m.Middleware.Network {
		routes = append(routes, "middleware")
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

func joinMethods(ms []string) string {
	s := ""
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m
	}
	return s
}
