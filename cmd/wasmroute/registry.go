package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/bundle/oci"
	"github.com/wasmroute/wasmroute/internal/progress"
)

// registryFlags are how push and pull reach a registry.
type registryFlags struct{ plainHTTP bool }

func (f *registryFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.plainHTTP, "plain-http", false, "speak plain HTTP to the registry (always so for localhost and loopback addresses)")
}

func (f *registryFlags) options(pr *progress.Printer) oci.Options {
	return oci.Options{PlainHTTP: f.plainHTTP, Progress: pr.Bytes}
}

func newPushCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "push [DIR] REF",
		Short: "Push the app's bundle to an OCI registry",
		Long: `Push builds the app in DIR (default ".") when its bundle is missing or older
than its sources, and pushes its current version to REF (registry/repo:tag)
as one OCI artifact: the manifest as config, one layer per module. Blobs the
registry has are not sent again. Credentials come from the docker config
file ($DOCKER_CONFIG/config.json or ~/.docker/config.json). It prints the
reference pinned to the artifact's digest, for 'deploy --from'.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, ref := ".", args[0]
			if len(args) == 2 {
				dir, ref = args[0], args[1]
			}
			pr := progress.New(cmd.ErrOrStderr())
			defer pr.Done()
			bundleDir, m, err := builtBundle(cmd, pr, dir)
			if err != nil {
				return err
			}
			pr.Step(fmt.Sprintf("pushing %.12s to %s", m.Version, ref))
			pinned, err := oci.Push(cmd.Context(), bundleDir, ref, f.options(pr))
			if err != nil {
				return err
			}
			pr.Done()
			fmt.Fprintln(cmd.OutOrStdout(), pinned)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newPullCmd() *cobra.Command {
	var f registryFlags
	cmd := &cobra.Command{
		Use:   "pull REF [DIR]",
		Short: "Pull a bundle from an OCI registry into DIR/.wasmroute",
		Long: `Pull fetches the bundle REF names into DIR/.wasmroute (DIR defaults to "."),
checking every blob against its digest, and makes it the current version:
'wasmroute start DIR' then serves it. Modules the bundle directory has are
not fetched again.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 2 {
				dir = args[1]
			}
			bundleDir := filepath.Join(dir, bundle.DirName)
			if err := os.MkdirAll(bundleDir, 0o755); err != nil {
				return err
			}
			pr := progress.New(cmd.ErrOrStderr())
			defer pr.Done()
			pr.Step("pulling " + args[0])
			version, pinned, err := oci.PullDir(cmd.Context(), args[0], bundleDir, f.options(pr))
			if errors.Is(err, oci.ErrNotBundle) {
				return fmt.Errorf("%w (push it with 'wasmroute push')", err)
			}
			if err != nil {
				return err
			}
			pr.Done()
			fmt.Fprintf(cmd.OutOrStdout(), "Pulled %s into %s: version %s\n", pinned, bundleDir, version)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
