package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/host/bundle"
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
	fmt.Fprintf(w, "\nBuilt %d routes (%d compiled) in %.1fs\n", len(res.Manifest.Routes), len(res.Compiled), res.Duration.Seconds())
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
