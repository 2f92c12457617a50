package main

import (
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
pattern, methods and source file, with module sizes when the app is built.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := appDir(args)
			routes, err := build.Discover(dir)
			if err != nil {
				return err
			}
			sizes := map[string]int64{}
			if m, err := bundle.Load(filepath.Join(dir, bundle.DirName)); err == nil {
				for _, r := range m.Routes {
					sizes[r.Pattern] = r.Size
				}
			}
			var rows []bundle.Route
			var mw *build.Route
			for _, r := range routes {
				if r.Middleware {
					mw = r
					continue
				}
				rows = append(rows, bundle.Route{Pattern: r.Pattern, Methods: r.MethodList(), Source: r.Source, Size: sizes[r.Pattern]})
			}
			printWarnings(cmd.OutOrStdout(), routes)
			printRoutes(cmd.OutOrStdout(), rows)
			if mw != nil {
				printMiddleware(cmd.OutOrStdout(), mw.Source, mw.Matcher, 0)
			}
			return nil
		},
	}
}
