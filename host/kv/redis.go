package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmroute/wasmroute/internal/redisconn"
)

// Redis is a Redis server that holds the stores of many apps, each under a
// key prefix of its own, so that several hosts share them. A store's TTLs
// are Redis's own; its quota is kept with Lua scripts, so a write past it
// changes nothing.
type Redis struct {
	c *redis.Client
}

// OpenRedis connects to the Redis server that url names
// (redis://[:password@]host:port/db, or rediss:// for TLS). It does not
// wait for the server: calls fail with a clear error until it answers, and
// work again when it does. Each call waits a second at most.
func OpenRedis(url string) (*Redis, error) {
	c, err := redisconn.Open(url)
	if err != nil {
		return nil, err
	}
	return &Redis{c: c}, nil
}

// Close closes the connection; the stores stop working.
func (r *Redis) Close() error { return r.c.Close() }

// Store returns the store of an app, holding at most quota bytes of keys
// and values (0 or less: DefaultQuota). Its keys live under
// "wasmroute:{app}:", the braces keeping them in one Redis Cluster slot.
func (r *Redis) Store(app string, quota int64) Store {
	p := "wasmroute:{" + app + "}:"
	return &redisStore{c: r.c, data: p + "kv:", index: p + "index", sizes: p + "sizes", usage: p + "usage", quota: quotaOr(quota)}
}

// redisStore is one app's store. Beside the values it keeps an index (a
// sorted set, for Keys in byte order), each key's size (a hash) and their
// sum (the usage counter). Keys that expire leave their index and size
// behind until a write or a listing finds them gone.
type redisStore struct {
	c                         *redis.Client
	data, index, sizes, usage string
	quota                     int64
	owner                     *Redis // closed with the store (OpenRedisStore)
}

// Replies of the write script, besides 0 for a compare-and-swap that found
// another value (an incr that succeeds replies with the new value, as
// text).
const (
	scriptDone  = 1
	scriptQuota = -1 // past the quota
	scriptNaN   = -2 // incr of a value that is not an integer
)

// write is the script behind Set, CompareAndSwap and Incr. KEYS: the value,
// the index, the sizes, the usage. ARGV: the key (its name in the index),
// the mode ("set", "cas", "cas-absent", "incr"), the value (or the delta),
// the TTL in ms (0: none; incr keeps the key's), the quota, and for cas the
// old value. It reclaims the size of a key that expired, checks the quota
// against the new size, writes, and records the size.
var write = redis.NewScript(`
local key, mode, value, ttl, quota = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local cur = redis.call('GET', KEYS[1])
local old = tonumber(redis.call('HGET', KEYS[3], key) or '0')
if not cur and old > 0 then
  redis.call('HDEL', KEYS[3], key)
  redis.call('DECRBY', KEYS[4], old)
  redis.call('ZREM', KEYS[2], key)
  old = 0
end
if mode == 'cas' and cur ~= ARGV[6] then return 0 end
if mode == 'cas-absent' and cur then return 0 end
local size
if mode == 'incr' then
  if cur and not string.match(cur, '^-?%d+$') then return -2 end
  local ok = pcall(redis.call, 'INCRBY', KEYS[1], value)
  if not ok then return -2 end
  size = #key + #redis.call('GET', KEYS[1])
  local usage = tonumber(redis.call('GET', KEYS[4]) or '0')
  if size - old > 0 and usage + size - old > quota then
    if cur then redis.call('SET', KEYS[1], cur, 'KEEPTTL') else redis.call('DEL', KEYS[1]) end
    return -1
  end
else
  size = #key + #value
  local usage = tonumber(redis.call('GET', KEYS[4]) or '0')
  if size - old > 0 and usage + size - old > quota then return -1 end
  if ttl > 0 then
    redis.call('SET', KEYS[1], value, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], value)
  end
end
redis.call('HSET', KEYS[3], key, size)
redis.call('INCRBY', KEYS[4], size - old)
redis.call('ZADD', KEYS[2], 0, key)
if mode == 'incr' then return redis.call('GET', KEYS[1]) end
return 1
`)

// remove is the script behind Delete: KEYS as for write, ARGV the key.
var remove = redis.NewScript(`
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if old > 0 then redis.call('DECRBY', KEYS[4], old) end
return 1
`)

func (s *redisStore) keys(key string) []string {
	return []string{s.data + key, s.index, s.sizes, s.usage}
}

// failed wraps a Redis error so the host's log says which store failed.
func failed(op string, err error) error {
	return fmt.Errorf("redis %s: %w", op, err)
}

// Get implements Store.
func (s *redisStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.c.Get(ctx, s.data+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, failed("get", err)
	}
	return v, true, nil
}

// run runs the write script, reclaiming expired keys' sizes once when the
// quota refuses it. It returns the script's code, or the new value of an
// incr.
func (s *redisStore) run(ctx context.Context, op, key string, args ...any) (int64, string, error) {
	for try := 0; ; try++ {
		res, err := write.Run(ctx, s.c, s.keys(key), append([]any{key}, args...)...).Result()
		if err != nil {
			return 0, "", failed(op, err)
		}
		if v, ok := res.(string); ok {
			return scriptDone, v, nil
		}
		n, _ := res.(int64)
		if n != scriptQuota || try > 0 {
			return n, "", nil
		}
		if reclaimed, err := s.reclaim(ctx); err != nil || reclaimed == 0 {
			return n, "", err
		}
	}
}

func ttlMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return max(ttl.Milliseconds(), 1)
}

// Set implements Store.
func (s *redisStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	n, _, err := s.run(ctx, "set", key, "set", value, ttlMillis(ttl), s.quota)
	if err == nil && n == scriptQuota {
		err = ErrQuotaExceeded
	}
	return err
}

// Delete implements Store.
func (s *redisStore) Delete(ctx context.Context, key string) error {
	if err := remove.Run(ctx, s.c, s.keys(key), key).Err(); err != nil {
		return failed("delete", err)
	}
	return nil
}

// Incr implements Store.
func (s *redisStore) Incr(ctx context.Context, key string, delta int64) (int64, error) {
	n, v, err := s.run(ctx, "incr", key, "incr", delta, 0, s.quota)
	switch {
	case err != nil:
		return 0, err
	case n == scriptQuota:
		return 0, ErrQuotaExceeded
	case n == scriptNaN:
		return 0, ErrNotInteger
	}
	return strconv.ParseInt(v, 10, 64)
}

// CompareAndSwap implements Store.
func (s *redisStore) CompareAndSwap(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	args := []any{"cas", value, ttlMillis(ttl), s.quota, old}
	if old == nil {
		args[0] = "cas-absent"
	}
	n, _, err := s.run(ctx, "cas", key, args...)
	switch {
	case err != nil:
		return false, err
	case n == scriptQuota:
		return false, ErrQuotaExceeded
	}
	return n == scriptDone, nil
}

// Keys implements Store: from the index in byte order, without the keys
// that expired (which it drops from the index).
func (s *redisStore) Keys(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	lo := "[" + prefix
	if after >= prefix {
		lo = "(" + after
	}
	hi := "+"
	if prefix != "" {
		hi = "(" + prefixEnd(prefix)
	}
	var out []string
	for len(out) < limit {
		page, err := s.c.ZRangeByLex(ctx, s.index, &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit - len(out))}).Result()
		if err != nil {
			return nil, failed("keys", err)
		}
		if len(page) == 0 {
			break
		}
		pipe := s.c.Pipeline()
		exists := make([]*redis.IntCmd, len(page))
		for i, k := range page {
			exists[i] = pipe.Exists(ctx, s.data+k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, failed("keys", err)
		}
		for i, k := range page {
			if exists[i].Val() == 1 {
				out = append(out, k)
			} else {
				_ = remove.Run(ctx, s.c, s.keys(k), k).Err()
			}
		}
		lo = "(" + page[len(page)-1]
	}
	return out, nil
}

// prefixEnd is the least string greater than every string with prefix p
// (p is not empty): the prefix with its last byte below 0xff raised.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return strings.Repeat("\xff", len(p)+1)
}

// reclaim drops the sizes of keys that expired and returns the bytes it
// freed.
func (s *redisStore) reclaim(ctx context.Context) (int64, error) {
	var freed int64
	var cursor uint64
	for {
		fields, next, err := s.c.HScan(ctx, s.sizes, cursor, "*", 500).Result()
		if err != nil {
			return freed, failed("reclaim", err)
		}
		pipe := s.c.Pipeline()
		var names []string
		var exists []*redis.IntCmd
		for i := 0; i+1 < len(fields); i += 2 {
			names = append(names, fields[i])
			exists = append(exists, pipe.Exists(ctx, s.data+fields[i]))
		}
		if len(names) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return freed, failed("reclaim", err)
			}
		}
		for i, k := range names {
			if exists[i].Val() == 0 {
				size, _ := strconv.ParseInt(fields[2*i+1], 10, 64)
				if err := remove.Run(ctx, s.c, s.keys(k), k).Err(); err == nil {
					freed += size
				}
			}
		}
		if cursor = next; cursor == 0 {
			return freed, nil
		}
	}
}

// OpenRedisStore opens the store of one app on the Redis server url names,
// on a connection of its own that Close closes.
func OpenRedisStore(url, app string, quota int64) (Store, error) {
	r, err := OpenRedis(url)
	if err != nil {
		return nil, err
	}
	s := r.Store(app, quota).(*redisStore)
	s.owner = r
	return s, nil
}

// Close implements Store. A store from Redis.Store leaves the connection
// open for the others; one from OpenRedisStore closes it.
func (s *redisStore) Close() error {
	if s.owner != nil {
		return s.owner.Close()
	}
	return nil
}
