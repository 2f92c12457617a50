package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/bundle/oci"
	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/edge"
	"github.com/wasmroute/wasmroute/host/kv"
	"github.com/wasmroute/wasmroute/internal/appconfig"
	"github.com/wasmroute/wasmroute/internal/httpserver"
)

func newServeCmd() *cobra.Command {
	var f serveFlags
	var adminAddr, tokenFile string
	var registryPlainHTTP bool
	var keep int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve many apps on one edge host, deployed through an admin API",
		Long: `Serve runs an edge host: the apps deployed to its data directory (--data),
routed by the Host header, on --addr, and the admin API (deploy, rollback,
revalidate, list, delete) on --admin. The admin token comes from
WASMROUTE_ADMIN_TOKEN or --admin-token-file. 'deploy --from' makes the host
pull from an OCI registry, with credentials from the docker config of the
user it runs as. Each app keeps its KV store in DATA/apps/NAME/kv.db, or in
Redis with --kv redis://HOST:PORT/DB; --cache redis://... shares the
response cache between hosts too. On SIGTERM the host stops accepting and
lets requests in flight finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token := os.Getenv("WASMROUTE_ADMIN_TOKEN")
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--admin-token-file: %w", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if len(token) < 16 {
				return errors.New("the admin API needs a token of at least 16 characters: set WASMROUTE_ADMIN_TOKEN or --admin-token-file")
			}
			if (f.tlsCert == "") != (f.tlsKey == "") {
				return errors.New("--tls-cert and --tls-key go together")
			}
			if f.dataDir == "" {
				return errors.New("--data: give the directory the host keeps its apps in")
			}
			log, err := f.logger(cmd)
			if err != nil {
				return err
			}
			oversubscribeProcs()
			quota := int64(kv.DefaultQuota)
			if f.kvQuota != "" {
				if quota, err = appconfig.ParseSize(f.kvQuota); err != nil {
					return fmt.Errorf("--kv-quota: %w", err)
				}
			}
			var shared *kv.Redis // every app's KV store, when --kv names a Redis
			if f.kvURL != "" {
				if shared, err = kv.OpenRedis(f.kvURL); err != nil {
					return fmt.Errorf("--kv: %w", err)
				}
				defer shared.Close()
			}
			responses, entryLimit, err := f.responseCache()
			if err != nil {
				return err
			}
			if responses != nil {
				defer responses.Close()
			}
			srv, err := edge.Open(f.dataDir, edge.Options{Logger: log, Engine: host.EngineOptions{CacheDir: f.cacheDir, GuestConcurrency: f.concurrency,
				Cache: responses, MaxCacheEntryBytes: entryLimit},
				App: func(name string) host.Options {
					return host.Options{Logger: log, MaxInstances: f.maxInstances, LookupSecret: os.LookupEnv}
				},
				KV: func(name string) (kv.Store, error) {
					if shared != nil {
						return shared.Store(name, quota), nil
					}
					return kv.OpenBolt(filepath.Join(f.dataDir, "apps", name, "kv.db"), quota)
				},
				Registry: oci.Options{PlainHTTP: registryPlainHTTP}, KeepVersions: keep})
			if err != nil {
				return err
			}
			defer srv.Close(context.Background())
			admin, err := httpserver.Listen(adminAddr, edge.NewAdmin(srv, token), httpserver.Options{Logger: log})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Admin API on http://%s\n", admin.Addr())
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			adminDone := make(chan error, 1)
			go func() { adminDone <- admin.Serve(ctx) }()
			err = serve(ctx, cmd.OutOrStdout(), &f, srv, log)
			cancel()
			return errors.Join(err, <-adminDone)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:9090", "address of the admin API (HOST:PORT); keep it off the public network")
	cmd.Flags().StringVar(&tokenFile, "admin-token-file", "", "file holding the admin token (default: $WASMROUTE_ADMIN_TOKEN)")
	cmd.Flags().IntVar(&keep, "keep-versions", bundle.KeepVersions, "how many versions of each app to keep for rollback, the current one included")
	cmd.Flags().BoolVar(&registryPlainHTTP, "registry-plain-http", false, "pull 'deploy --from' references over plain HTTP even from registries off loopback")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate file: serve the apps over HTTPS (with --tls-key)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "PEM key file of --tls-cert")
	return cmd
}
