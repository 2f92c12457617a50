package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/internal/build"
	"github.com/wasmroute/wasmroute/internal/scaffold"
)

func newInitCmd() *cobra.Command {
	var module, replace string
	cmd := &cobra.Command{
		Use:     "init [DIR]",
		Aliases: []string{"create"},
		Short:   "Write a new app in DIR: routes of every kind, a test, wasmroute.toml, go.mod",
		Long: `Init writes a working app in DIR (default "."), which must not hold one yet:
a static route, a route with a [id] segment, a catch-all, a POST that takes
JSON, a stream, a test for a route, wasmroute.toml, .gitignore and go.mod.
While wasmroute is not on the Go module proxy, go.mod points at a checkout
with a replace directive: the one this CLI was built from (go install
./cmd/wasmroute in a clone), or --replace DIR. Init then runs wasmroute tidy.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := appDir(args)
			out := cmd.OutOrStdout()
			opts := scaffold.Options{Module: module, Replace: replace}
			if opts.Replace == "" {
				_, file, _, _ := runtime.Caller(0)
				opts.Replace = scaffold.Checkout(file)
			}
			if opts.Replace == "" {
				return fmt.Errorf("wasmroute is not on the Go module proxy yet, and this CLI does not know a checkout of it: " +
					"clone the repository, then run init --replace /path/to/the/clone")
			}
			if err := scaffold.Write(dir, opts); err != nil {
				return err
			}
			for _, f := range scaffold.Files() {
				fmt.Fprintln(out, "  created", filepath.Join(dir, f))
			}
			fmt.Fprintln(out, "running wasmroute tidy (go mod tidy, route folders included)")
			if _, err := build.Tidy(cmd.Context(), dir); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nDone. Next:\n  cd %s\n  wasmroute dev     # build, serve on http://127.0.0.1:3000, rebuild on save\n  wasmroute test    # the route tests, [id] folders included\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "the app's Go module path (default: the directory's name)")
	cmd.Flags().StringVar(&replace, "replace", "", "a wasmroute checkout for go.mod's replace directive (default: the one this CLI was built from)")
	return cmd
}

// versionText is what --version prints.
func versionText() string {
	return fmt.Sprintf("wasmroute %s (guest ABI v%d, %s %s/%s)\n", scaffold.Version(), abi.Version,
		runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newTidyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tidy [DIR]",
		Short: "Run go mod tidy for the app in DIR, route folders such as [id] included",
		Long: `Tidy runs go mod tidy -e in the app's module. Go cannot name packages in
folders such as [id] or (group), so plain go mod tidy fails on an app, and
go mod tidy -e would drop what only those routes import. Tidy makes go mod
tidy see their imports too.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := build.Tidy(cmd.Context(), appDir(args))
			if len(out) > 0 && err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), string(out))
			}
			return err
		},
	}
}

func newTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test [DIR] [go test flags]",
		Short: "Run the app's Go tests natively, route folders such as [id] included",
		Long: `Test runs go test on every package of the app in DIR (default "."), with the
go test flags that follow. Route folders whose names Go cannot import ([id],
[...path], (group)) are mapped to packages it can, so their tests run too.
A route test is a plain net/http handler test; guest.Route fills
r.PathValue from the route's pattern.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
				dir, args = args[0], args[1:]
			}
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			return build.Test(cmd.Context(), dir, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}
