// Command wasmroute builds apps of route.go files into WebAssembly modules
// and serves them with the wasmroute host.
//
//	wasmroute init [DIR]    write a new app
//	wasmroute build [DIR]   compile every route under DIR/app into DIR/.wasmroute
//	wasmroute start [DIR]   serve the built bundle
//	wasmroute dev [DIR]     build, serve, and rebuild on change
//	wasmroute routes [DIR]  print the route table
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/joho/godotenv"
	"github.com/spf13/cobra"

	"github.com/wasmroute/wasmroute/host"
	"github.com/wasmroute/wasmroute/host/cache"
	"github.com/wasmroute/wasmroute/host/kv"
	"github.com/wasmroute/wasmroute/internal/appconfig"
	"github.com/wasmroute/wasmroute/internal/devlog"
	"github.com/wasmroute/wasmroute/internal/httpserver"
	"github.com/wasmroute/wasmroute/internal/redisconn"
	"github.com/wasmroute/wasmroute/internal/scaffold"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	redisconn.Quiet() // the host logs the Redis failures it sees
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "wasmroute:", err)
		os.Exit(1)
	}
}

// serveFlags are the flags shared by start and dev.
type serveFlags struct {
	addr      string
	cacheDir  string
	logLevel  string
	logFormat string
	// human is the log format when --log-format is not given: dev's short
	// lines rather than start's structured ones.
	human        bool
	maxInstances int
	concurrency  int
	envFile      string
	dataDir      string
	kvURL        string // a Redis URL: the KV store lives there
	kvMemory     bool
	kvQuota      string
	memoryBudget string
	env          map[string]string
	// The HTTP server's limits (internal/httpserver).
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxConnections    int
	// TLS certificate and key files (serve).
	tlsCert, tlsKey string
	// The response cache: "memory", "off" (dev's default), or a Redis URL;
	// its size, and the largest response it keeps.
	cache, cacheSize, cacheEntryLimit string
}

func (f *serveFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:3000", "address to listen on (HOST:PORT)")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", "", `compiled-module cache directory (default: the user cache dir; "off" disables)`)
	cmd.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "", `log format: "human" (short lines; dev's default), "text" (slog's key=value; start's default) or "json"`)
	cmd.Flags().IntVar(&f.maxInstances, "max-instances", 0, "instances of each module of the app, and so requests it serves at once (default 4 × GOMAXPROCS, at least 8)")
	cmd.Flags().IntVar(&f.concurrency, "guest-concurrency", 0, "guest calls computing at once; waiting ones do not count (default: the number of CPUs; -1: no limit)")
	cmd.Flags().StringVar(&f.dataDir, "data", "", "directory for the app's key-value store (default DIR/.wasmroute-data)")
	cmd.Flags().BoolVar(&f.kvMemory, "kv-memory", false, "keep the key-value store in memory instead, lost on exit")
	cmd.Flags().StringVar(&f.kvURL, "kv", "", "keep the key-value store in Redis instead (redis://HOST:PORT/DB), shared by every host pointed at it; each app under its own key prefix")
	cmd.Flags().StringVar(&f.memoryBudget, "memory-budget", "", "most linear memory all instances hold together, such as 4GB (default: half the machine's memory)")
	cmd.Flags().StringVar(&f.kvQuota, "kv-quota", "64MB", "most bytes of keys and values the app's key-value store holds")
	cmd.Flags().StringToStringVar(&f.env, "env", nil, "override a variable the app declares in [env] (KEY=VALUE; repeatable)")
	cmd.Flags().DurationVar(&f.readHeaderTimeout, "read-header-timeout", httpserver.DefaultReadHeaderTimeout, "how long a client may take to send a request head")
	cmd.Flags().DurationVar(&f.idleTimeout, "idle-timeout", httpserver.DefaultIdleTimeout, "how long a keep-alive connection may wait for its next request")
	cmd.Flags().IntVar(&f.maxConnections, "max-connections", httpserver.DefaultMaxConnections, "connections open at once; more wait to be accepted")
	cacheDefault := "memory"
	if f.human {
		cacheDefault = "off" // dev: always fresh, as next dev is
	}
	cmd.Flags().StringVar(&f.cache, "cache", cacheDefault, `the response cache (Revalidate, s-maxage): "memory", "off", or redis://HOST:PORT/DB to share it between hosts`)
	cmd.Flags().StringVar(&f.cacheSize, "cache-size", "256MB", "most bytes the in-memory response cache holds; the least recently used go first")
	cmd.Flags().StringVar(&f.cacheEntryLimit, "cache-entry-limit", "8MB", "largest response body the cache keeps; larger ones are served, not kept")
	cmd.Flags().StringVar(&f.envFile, "env-file", "", "file of KEY=value lines with the app's secrets (default: DIR/.env if it exists); the environment wins over it")
}

// oversubscribeProcs gives the Go scheduler twice as many Ps as it would
// have, unless GOMAXPROCS is set. A goroutine running guest code cannot be
// preempted until the guest returns or calls the host (compiled WebAssembly
// has no preemption points), so with one P per core a long guest call, such
// as a guest garbage collection, keeps network goroutines waiting. With more
// Ps than cores the kernel interleaves them: in scripts/bench, p99 latency
// fell from 39 ms to 13 ms at the same throughput.
func oversubscribeProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2 * runtime.GOMAXPROCS(0))
	}
}

// prepare does what start and dev share before serving the app in dir: the
// logger, the scheduler setting, and the host options. The caller closes
// opts.KV, and opts.Cache if set, after the host.
func (f *serveFlags) prepare(cmd *cobra.Command, dir string) (*slog.Logger, host.Options, error) {
	log, err := f.logger(cmd)
	if err != nil {
		return nil, host.Options{}, err
	}
	oversubscribeProcs()
	opts, err := f.hostOptions(log, dir)
	return log, opts, err
}

// hostOptions are the host settings the flags select, for the app in dir.
func (f *serveFlags) hostOptions(log *slog.Logger, dir string) (host.Options, error) {
	lookup, err := secretLookup(dir, f.envFile)
	if err != nil {
		return host.Options{}, err
	}
	quota := int64(kv.DefaultQuota)
	if f.kvQuota != "" {
		if quota, err = appconfig.ParseSize(f.kvQuota); err != nil {
			return host.Options{}, fmt.Errorf("--kv-quota: %w", err)
		}
	}
	var budget int64
	if f.memoryBudget != "" {
		if budget, err = appconfig.ParseSize(f.memoryBudget); err != nil {
			return host.Options{}, fmt.Errorf("--memory-budget: %w", err)
		}
	}
	var store kv.Store = kv.NewMemory(quota)
	if f.kvURL != "" {
		abs, _ := filepath.Abs(dir)
		if store, err = kv.OpenRedisStore(f.kvURL, filepath.Base(abs), quota); err != nil {
			return host.Options{}, fmt.Errorf("--kv: %w", err)
		}
	} else if !f.kvMemory {
		data := f.dataDir
		if data == "" {
			data = filepath.Join(dir, ".wasmroute-data")
		}
		if store, err = kv.OpenBolt(filepath.Join(data, "kv.db"), quota); err != nil {
			return host.Options{}, err
		}
	}
	responses, entryLimit, err := f.responseCache()
	if err != nil {
		store.Close()
		return host.Options{}, err
	}
	return host.Options{Logger: log, CacheDir: f.cacheDir, MaxInstances: f.maxInstances, LookupSecret: lookup, KV: store,
		Env: f.env, GuestConcurrency: f.concurrency, MemoryBudget: uint64(budget), Cache: responses, MaxCacheEntryBytes: entryLimit}, nil
}

// responseCache opens the response cache --cache names (nil for "off"),
// and returns it with the entry limit.
func (f *serveFlags) responseCache() (cache.Store, int64, error) {
	limit, err := appconfig.ParseSize(f.cacheEntryLimit)
	if err != nil {
		return nil, 0, fmt.Errorf("--cache-entry-limit: %w", err)
	}
	switch f.cache {
	case "off", "":
		return nil, limit, nil
	}
	size, err := appconfig.ParseSize(f.cacheSize)
	if err != nil {
		return nil, 0, fmt.Errorf("--cache-size: %w", err)
	}
	if f.cache == "memory" {
		return cache.NewMemory(size), limit, nil
	}
	if strings.HasPrefix(f.cache, "redis://") || strings.HasPrefix(f.cache, "rediss://") {
		// --cache-size is then each host's local layer.
		store, err := cache.OpenRedis(f.cache, size)
		if err != nil {
			return nil, 0, fmt.Errorf("--cache: %w", err)
		}
		return store, limit, nil
	}
	return nil, 0, fmt.Errorf("--cache %q: want memory, off, or redis://HOST:PORT/DB", f.cache)
}

// secretLookup finds secrets in the environment, then in the env file:
// envFile if given (it must exist), else DIR/.env if there is one. It reads
// the file on every call, so a host that reloads (dev, when .env changes)
// sees what it holds now.
func secretLookup(dir, envFile string) (func(string) (string, bool), error) {
	path := envFile
	if path == "" {
		path = filepath.Join(dir, ".env")
	} else if _, err := godotenv.Read(path); err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", path, err)
	}
	return func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		vars, err := godotenv.Read(path)
		if err != nil {
			return "", false
		}
		v, ok := vars[name]
		return v, ok
	}, nil
}

func appDir(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return "."
}

// logger logs to the command's error stream at the chosen level and format.
func (f *serveFlags) logger(cmd *cobra.Command) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	format := f.logFormat
	if format == "" {
		format = "text"
		if f.human {
			format = "human"
		}
	}
	out := cmd.ErrOrStderr()
	switch format {
	case "human":
		return slog.New(devlog.New(out, level)), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not human, text or json", format)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "wasmroute",
		Short:         "Next.js-style route handlers in Go, compiled to WebAssembly and served at the edge",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInitCmd(), newBuildCmd(), newStartCmd(), newDevCmd(), newRoutesCmd(), newTidyCmd(), newTestCmd(), newServeCmd(), newDeployCmd(), newRollbackCmd(), newVersionsCmd(), newPushCmd(), newPullCmd(), newRevalidateCmd())
	root.Version = scaffold.Version()
	root.SetVersionTemplate(versionText())
	return root
}
