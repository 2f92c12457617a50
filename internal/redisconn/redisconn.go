// Package redisconn opens the Redis connections of the KV store and the
// response cache, with the same bounded waits: a server that is down,
// slow or cut off costs a call about a second at most (and never more
// than its context allows).
package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of a connection.
const (
	DialTimeout = time.Second
	IOTimeout   = time.Second
)

// Open returns a client of the server url names (redis://[:password@]host:port/db,
// or rediss:// for TLS). It does not wait for the server: calls fail with
// a clear error until it answers, and work again when it does.
func Open(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL %q: %w", url, err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = DialTimeout, IOTimeout, IOTimeout, IOTimeout
	opts.MaxRetries = 1
	opts.ContextTimeoutEnabled = true
	return redis.NewClient(opts), nil
}

// Quiet stops go-redis from printing its own connection errors to the
// standard logger: the host reports the failures it sees, once.
func Quiet() { redis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
