package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/internal/build"
)

func newRoutesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "routes [DIR]",
		Short: "Print the route table of the app in DIR",
		Long: `Routes reads DIR/app (DIR defaults to ".") and prints each route's URL
pattern, methods and source file, and the modules with their sizes when the
app is built.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := appDir(args)
			routes, err := build.Discover(dir)
			if err != nil {
				return err
			}
			built, _ := bundle.Load(filepath.Join(dir, bundle.DirName))
			m := &bundle.Manifest{}
			var mw *build.Route
			for _, r := range routes {
				if r.Middleware {
					mw = r
					continue
				}
				row := bundle.Route{Pattern: r.Pattern, Methods: r.MethodList(), Source: r.Source, Module: -1}
				if built != nil {
					for _, br := range built.Routes {
						if br.Pattern == r.Pattern {
							row.Module, m.Modules = br.Module, built.Modules
						}
					}
				}
				m.Routes = append(m.Routes, row)
			}
			out := cmd.OutOrStdout()
			printWarnings(out, routes)
			printRoutes(out, m)
			if mw != nil {
				printMiddleware(out, mw.Source, mw.Matcher)
			}
			if built != nil {
				fmt.Fprintln(out)
				printModules(out, built, nil)
			}
			return nil
		},
	}
}
