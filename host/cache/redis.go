package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wasmroute/wasmroute/internal/redisconn"
)

// Redis is a Store that many hosts share through one Redis server, with a
// local Memory in front on each:
//
//   - entries live in Redis, under their key, with a TTL of their whole
//     life (fresh and stale); a host keeps the ones it read or wrote in its
//     local layer, so a hit costs no round trip;
//   - the times tags were revalidated live in a Redis hash; each host keeps
//     a copy, loaded when it (re)connects;
//   - a write or a revalidation is published on a channel, and the other
//     hosts drop their local copy of the entry, or take the tag times;
//   - regeneration after a stale hit is leased with SET NX, so one host
//     regenerates an entry at a time.
//
// While the host is not subscribed (Redis is down, or the connection was
// cut) every lookup is a miss: the local layer may have missed messages.
// When the subscription comes back, the host drops its local layer and
// reloads the tag times, and serves from the cache again.
type Redis struct {
	c     *redis.Client
	local *Memory
	id    string // this host, in the messages it publishes

	connected atomic.Bool

	mu   sync.Mutex
	tags map[string]Tags
	// forgot is set when the tag times outgrew maxTagTimes and were
	// dropped: entries generated before it count as stale.
	forgot time.Time

	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
	owned  bool // Close closes c
}

// Names in Redis.
const (
	redisPrefix  = "wasmroute:cache:"
	redisEntry   = redisPrefix + "entry:"
	redisLease   = redisPrefix + "lease:"
	redisTags    = redisPrefix + "tags"
	redisChannel = redisPrefix + "events"
)

// ErrDisconnected is the error of a lookup while the host is not
// subscribed to the other hosts' changes.
var ErrDisconnected = errors.New("cache: not connected to redis")

// NewRedis returns a Store on the Redis server c reaches, with a local
// layer of at most localBytes (0 or less: DefaultMaxBytes). It subscribes
// at once, in the background; Close stops it. The client stays the
// caller's.
func NewRedis(c *redis.Client, localBytes int64) *Redis {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Redis{c: c, local: NewMemory(localBytes), id: hex.EncodeToString(id), tags: map[string]Tags{}, cancel: cancel, done: make(chan struct{})}
	r.ps = c.Subscribe(ctx, redisChannel)
	go r.subscribe(ctx)
	return r
}

// message is what a host publishes: an entry it wrote (Key), or tags it
// revalidated.
type message struct {
	From   string   `json:"from"`
	Key    string   `json:"key,omitempty"`
	Tags   []string `json:"tags,omitempty"`
	At     int64    `json:"at,omitempty"`
	Expire bool     `json:"expire,omitempty"`
	// Forgot says the tag times were dropped, at this time.
	Forgot int64 `json:"forgot,omitempty"`
}

// subscribe follows the other hosts' changes until ctx ends, reconnecting
// after failures.
func (r *Redis) subscribe(ctx context.Context) {
	defer close(r.done)
	ps := r.ps
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 5*time.Second)
		if err != nil {
			var netErr interface{ Timeout() bool }
			if errors.As(err, &netErr) && netErr.Timeout() && ps.Ping(ctx) == nil {
				continue // quiet, and still connected
			}
			r.connected.Store(false)
			select {
			case <-ctx.Done():
			case <-time.After(backoff): // the next Receive reconnects
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.connected.Store(r.resync(ctx) == nil)
			}
		case *redis.Message:
			r.apply(m.Payload)
		}
	}
}

// resync drops the local layer and loads the tag times, after a
// (re)subscription: messages may have been missed.
func (r *Redis) resync(ctx context.Context) error {
	r.local.Clear()
	n, err := r.c.HLen(ctx, redisTags).Result()
	if err != nil {
		return err
	}
	tags := map[string]Tags{}
	var forgot time.Time
	if n > int64(maxTagTimes) {
		forgot = time.Now() // too many to copy: everything so far counts as stale
	} else {
		all, err := r.c.HGetAll(ctx, redisTags).Result()
		if err != nil {
			return err
		}
		for tag, v := range all {
			if tag == forgotField {
				forgot = parseTags(v).Stale
				continue
			}
			tags[tag] = parseTags(v)
		}
	}
	r.mu.Lock()
	r.tags, r.forgot = tags, forgot
	r.mu.Unlock()
	return nil
}

// apply takes another host's change.
func (r *Redis) apply(payload string) {
	var m message
	if json.Unmarshal([]byte(payload), &m) != nil || m.From == r.id {
		return
	}
	if m.Key != "" {
		r.local.Delete(m.Key)
	}
	if len(m.Tags) > 0 {
		r.note(m.Tags, m.Expire, time.Unix(0, m.At))
	}
	if m.Forgot != 0 {
		r.forget(time.Unix(0, m.Forgot))
	}
}

// note records tag times in the local copy.
func (r *Redis) note(tags []string, expire bool, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range tags {
		r.tags[t] = r.tags[t].raise(at, expire)
	}
	if len(r.tags) > maxTagTimes { // the hash in Redis is bounded alike
		clear(r.tags)
		r.forgot = at
	}
}

// Tag times are kept in Redis as "stale,expired" in Unix microseconds
// (Lua's numbers are doubles, exact to 2^53), rounded up so that an entry
// generated in the same microsecond as a revalidation counts as stale.
func parseTags(v string) Tags {
	s, e, _ := strings.Cut(v, ",")
	sn, _ := strconv.ParseInt(s, 10, 64)
	en, _ := strconv.ParseInt(e, 10, 64)
	var tt Tags
	if sn > 0 {
		tt.Stale = time.UnixMicro(sn)
	}
	if en > 0 {
		tt.Expired = time.UnixMicro(en)
	}
	return tt
}

// micros is t in Unix microseconds, rounded up.
func micros(t time.Time) int64 { return (t.UnixNano() + 999) / 1000 }

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (*Entry, error) {
	if !r.connected.Load() {
		return nil, ErrDisconnected
	}
	if e, _ := r.local.Get(ctx, key); e != nil {
		return e, nil
	}
	b, err := r.c.Get(ctx, redisEntry+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	_ = r.local.Set(ctx, key, &e)
	return &e, nil
}

// Set implements Store.
func (r *Redis) Set(ctx context.Context, key string, e *Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	life := Forever
	if e.Fresh >= 0 && e.Stale >= 0 && e.Fresh+e.Stale < Forever {
		life = e.Fresh + e.Stale + time.Second
	}
	if err := r.c.Set(ctx, redisEntry+key, b, life).Err(); err != nil {
		return err
	}
	_ = r.local.Set(ctx, key, e)
	return r.publish(ctx, message{From: r.id, Key: key})
}

func (r *Redis) publish(ctx context.Context, m message) error {
	b, _ := json.Marshal(m)
	return r.c.Publish(ctx, redisChannel, b).Err()
}

// Tags implements Store, from the local copy of the tag times.
func (r *Redis) Tags(_ context.Context, tags []string) (Tags, error) {
	if !r.connected.Load() {
		return Tags{}, ErrDisconnected
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return latest(r.tags, tags, Tags{Stale: r.forgot}), nil
}

// forgotField is the field of the tag hash that holds when the hash
// outgrew maxTagTimes and was dropped: entries generated before it count as
// stale.
const forgotField = "\x00forgot"

// revalidate raises the tag times in the hash, never lowering them. ARGV:
// the time, "1" to expire too, the most tags the hash keeps, then the
// tags. Past that many it drops the hash and records when: it replies 2
// then, 1 otherwise.
var revalidate = redis.NewScript(`
local at, expire, most = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3])
for i = 4, #ARGV do
  local cur = redis.call('HGET', KEYS[1], ARGV[i]) or '0,0'
  local s, e = string.match(cur, '^(%d+),(%d+)$')
  s, e = tonumber(s) or 0, tonumber(e) or 0
  if at > s then s = at end
  if expire and at > e then e = at end
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%d,%d', s, e))
end
if redis.call('HLEN', KEYS[1]) > most then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], '` + forgotField + `', string.format('%d,0', at))
  return 2
end
return 1
`)

// Revalidate implements Store: the tag times go to Redis, then to the
// other hosts.
func (r *Redis) Revalidate(ctx context.Context, tags []string, expire bool, at time.Time) error {
	flag := "0"
	if expire {
		flag = "1"
	}
	at = time.UnixMicro(micros(at))
	args := []any{micros(at), flag, maxTagTimes}
	for _, t := range tags {
		args = append(args, t)
	}
	n, err := revalidate.Run(ctx, r.c, []string{redisTags}, args...).Int64()
	if err != nil {
		return err
	}
	if n == 2 { // the hash was dropped: so are the copies, everywhere
		r.forget(at)
		return r.publish(ctx, message{From: r.id, Forgot: at.UnixNano()})
	}
	r.note(tags, expire, at)
	return r.publish(ctx, message{From: r.id, Tags: tags, At: at.UnixNano(), Expire: expire})
}

// forget drops the local tag times: entries generated before at count as
// stale from now on.
func (r *Redis) forget(at time.Time) {
	r.mu.Lock()
	clear(r.tags)
	if at.After(r.forgot) {
		r.forgot = at
	}
	r.mu.Unlock()
}

// unlease deletes a lease only if this host still holds it.
var unlease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lease implements Store with SET NX and a TTL.
func (r *Redis) Lease(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	token := r.id + strconv.FormatInt(time.Now().UnixNano(), 36)
	ok, err := r.c.SetNX(ctx, redisLease+key, token, ttl).Result()
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = unlease.Run(ctx, r.c, []string{redisLease + key}, token).Err()
	}, true, nil
}

// Connected reports whether the host follows the other hosts' changes, so
// that lookups are served.
func (r *Redis) Connected() bool { return r.connected.Load() }

// OpenRedis connects to the Redis server url names
// (redis://host:port/db) and returns a Store on it, as NewRedis does; Close
// closes the connection too.
func OpenRedis(url string, localBytes int64) (*Redis, error) {
	c, err := redisconn.Open(url)
	if err != nil {
		return nil, err
	}
	r := NewRedis(c, localBytes)
	r.owned = true
	return r, nil
}

// Close implements Store: it stops following the other hosts.
func (r *Redis) Close() error {
	r.cancel()
	r.ps.Close() // ends a Receive that is waiting
	<-r.done
	if r.owned {
		return r.c.Close()
	}
	return nil
}
