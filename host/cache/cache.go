// Package cache is the host's response cache, with Next.js's semantics: a
// route's `const Revalidate = N` (or a response's `Cache-Control:
// s-maxage=N, stale-while-revalidate=M`) keeps its GET responses fresh for
// N seconds, then serves them stale while one background call regenerates
// them; `Revalidate = false` and `Dynamic = "force-static"` keep them until
// they are revalidated by tag or path.
//
// The package holds the rules (what may be stored, for how long, under
// which tags) and the stores: Memory, bounded in bytes and evicting the
// least recently used, and Redis, for many hosts. The host's cache stage
// (host/cache.go) applies them to requests.
package cache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasmroute/wasmroute/abi"
)

// Limits on what a response may carry to be stored.
const (
	// MaxTagBytes caps one tag, as Next.js does.
	MaxTagBytes = abi.MaxCacheTag
	// MaxTags caps the tags of one response.
	MaxTags = abi.MaxCacheTags
	// DefaultMaxEntryBytes caps one stored response's body.
	DefaultMaxEntryBytes = 8 << 20
	// DefaultMaxBytes caps an in-memory cache.
	DefaultMaxBytes = 256 << 20
	// Forever is what Next.js calls the expire time of a revalidated
	// entry: one year, after which it is a miss rather than stale.
	Forever = 365 * 24 * time.Hour
)

// TagHeader is the response header through which a guest names its
// response's tags (guest.CacheTag). The host reads it and never sends it.
const TagHeader = abi.CacheTagHeader

// PathTag is the tag every entry gets for its path, which
// RevalidatePath(path) revalidates.
func PathTag(path string) string { return "_wr_path:" + path }

// AppTag is the tag every entry of an app gets: expiring it empties the
// app's cache (an edge host does when it deletes the app).
const AppTag = "_wr_app"

// Entry is a stored response.
type Entry struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
	// Stored is when the response was generated.
	Stored time.Time `json:"stored"`
	// Fresh is how long it is served as a hit; Stale how long after that
	// it is served stale while it is regenerated.
	Fresh time.Duration `json:"fresh"`
	Stale time.Duration `json:"stale"`
	// Tags are the response's tags, its path tag among them.
	Tags []string `json:"tags"`
	// Vary holds the request header values the response varies on, as
	// name, value pairs: another request matches only with the same ones.
	Vary []string `json:"vary,omitempty"`
	// Shared is whether the entry may answer a request that carries
	// credentials (Authorization or cookies): the response was public, or
	// its route is static by declaration.
	Shared bool `json:"shared,omitempty"`
}

// Size is what the entry counts against a store's bytes.
func (e *Entry) Size() int64 {
	n := int64(len(e.Body)) + 256
	for k, vs := range e.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v))
		}
	}
	for _, t := range e.Tags {
		n += int64(len(t))
	}
	return n
}

// State is what a lookup makes of an entry.
type State int

// States of an entry.
const (
	// Miss: no entry, or one too old or expired by a tag; the request
	// waits for a new response.
	Miss State = iota
	// Hit: fresh.
	Hit
	// Stale: served at once, while one call regenerates it.
	Stale
)

// String is the state as the X-Wasmroute-Cache header says it.
func (s State) String() string {
	return [...]string{"MISS", "HIT", "STALE"}[s]
}

// Tags are the revalidation times of a set of tags: the latest time one
// of them was marked stale, and the latest it was expired.
type Tags struct {
	Stale, Expired time.Time
}

// raise moves the times up to at (with expire, the expiry too), never
// down: revalidations may arrive out of order.
func (tt Tags) raise(at time.Time, expire bool) Tags {
	if at.After(tt.Stale) {
		tt.Stale = at
	}
	if expire && at.After(tt.Expired) {
		tt.Expired = at
	}
	return tt
}

// latest returns the latest times of any of tags in times, and at least
// those of from.
func latest(times map[string]Tags, tags []string, from Tags) Tags {
	for _, t := range tags {
		tt := times[t]
		if tt.Stale.After(from.Stale) {
			from.Stale = tt.Stale
		}
		if tt.Expired.After(from.Expired) {
			from.Expired = tt.Expired
		}
	}
	return from
}

// State says whether e is a hit, stale or a miss at now, given the times
// its tags were revalidated.
func (e *Entry) State(now time.Time, tags Tags) State {
	if !tags.Expired.Before(e.Stored) {
		return Miss
	}
	age := now.Sub(e.Stored)
	if e.Stale >= 0 && e.Fresh >= 0 && age >= e.Fresh+e.Stale {
		return Miss
	}
	if !tags.Stale.Before(e.Stored) || (e.Fresh >= 0 && age >= e.Fresh) {
		return Stale
	}
	return Hit
}

// Matches reports whether the request headers h have the values the entry
// varies on.
func (e *Entry) Matches(h http.Header) bool {
	for i := 0; i+1 < len(e.Vary); i += 2 {
		if strings.Join(h.Values(e.Vary[i]), ",") != e.Vary[i+1] {
			return false
		}
	}
	return true
}

// Age is the Age header of the entry at now, in whole seconds.
func (e *Entry) Age(now time.Time) string {
	return strconv.FormatInt(int64(max(now.Sub(e.Stored), 0)/time.Second), 10)
}

// Rule is how a route's segment config caches it.
type Rule int

// Rules.
const (
	// ByResponse caches only responses that ask for it with s-maxage.
	ByResponse Rule = iota
	// Never caches nothing: Dynamic = "force-dynamic".
	Never
	// Static caches until revalidated: Revalidate = false, or Dynamic =
	// "force-static" or "error".
	Static
	// Timed caches for the route's Revalidate seconds, then regenerates.
	Timed
)

// Lifetime is how long a response may be served fresh and then stale: by
// the route's rule (revalidate is its Revalidate in seconds for Timed),
// else by the response's Cache-Control s-maxage and
// stale-while-revalidate. ok is false when it may not be stored for long.
func Lifetime(rule Rule, revalidate int, h http.Header) (fresh, stale time.Duration, ok bool) {
	switch rule {
	case Never:
		return 0, 0, false
	case Static:
		return -1, 0, true
	case Timed:
		return time.Duration(revalidate) * time.Second, Forever, true
	}
	cc := directives(h)
	n, found := cc["s-maxage"]
	if !found {
		return 0, 0, false
	}
	secs, err := strconv.Atoi(n)
	if err != nil || secs <= 0 {
		return 0, 0, false
	}
	if m, err := strconv.Atoi(cc["stale-while-revalidate"]); err == nil && m > 0 {
		stale = time.Duration(m) * time.Second
	}
	return time.Duration(secs) * time.Second, stale, true
}

// CacheControl is the Cache-Control a route's rule gives its responses
// when the guest sets none, as Next.js sends for ISR: so a CDN in front
// caches alike. "" for ByResponse and Never.
func CacheControl(rule Rule, revalidate int) string {
	switch rule {
	case Static:
		return "s-maxage=31536000"
	case Timed:
		return fmt.Sprintf("s-maxage=%d, stale-while-revalidate=%d", revalidate, int(Forever/time.Second)-revalidate)
	}
	return ""
}

// storableStatus are the statuses a shared cache may keep (RFC 9111's
// heuristically cacheable ones, but 206).
var storableStatus = map[int]bool{200: true, 203: true, 204: true, 300: true, 301: true, 308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// Storable reports whether a response (status and headers) to a request
// (its headers) may be stored, and whether it may then answer requests
// with credentials; why says why not. A route that is static by
// declaration (rule Static or Timed) makes the entry shared.
func Storable(rule Rule, status int, req, resp http.Header) (shared bool, why string) {
	cc := directives(resp)
	_, public := cc["public"]
	switch {
	case !storableStatus[status]:
		return false, "status " + strconv.Itoa(status)
	case hasDirective(cc, "private", "no-store"):
		return false, "Cache-Control: " + resp.Get("Cache-Control")
	case len(resp.Values("Set-Cookie")) > 0:
		return false, "Set-Cookie"
	case slices.Contains(resp.Values("Vary"), "*"):
		return false, "Vary: *"
	case !public && (req.Get("Authorization") != "" || req.Get("Cookie") != ""):
		return false, "a request with credentials, and a response not public"
	}
	return public || rule == Static || rule == Timed, ""
}

// VaryOn returns the request values a response varies on, as Entry.Vary
// wants them.
func VaryOn(req, resp http.Header) []string {
	var out []string
	for _, line := range resp.Values("Vary") {
		for _, name := range strings.Split(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out = append(out, http.CanonicalHeaderKey(name), strings.Join(req.Values(name), ","))
			}
		}
	}
	return out
}

// ErrBadTags is why a response's tags keep it out of the cache.
var ErrBadTags = errors.New("bad cache tags")

// CheckTags checks tags against MaxTags and MaxTagBytes.
func CheckTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d", ErrBadTags, len(tags), MaxTags)
	}
	for _, t := range tags {
		if len(t) > MaxTagBytes || t == "" {
			return fmt.Errorf("%w: a tag of %d bytes (1 to %d)", ErrBadTags, len(t), MaxTagBytes)
		}
	}
	return nil
}

// directives parses Cache-Control into its directives, lower case.
func directives(h http.Header) map[string]string {
	out := map[string]string{}
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			if name != "" {
				out[strings.ToLower(name)] = strings.Trim(value, `"`)
			}
		}
	}
	return out
}

func hasDirective(cc map[string]string, names ...string) bool {
	for _, n := range names {
		if _, ok := cc[n]; ok {
			return true
		}
	}
	return false
}

// Store keeps entries, and the times tags were revalidated. Keys and tags
// come namespaced by app from the host. Implementations are safe for
// concurrent use; an error is for the host to log and treat as a miss.
type Store interface {
	// Get returns the entry under key, or nil.
	Get(ctx context.Context, key string) (*Entry, error)
	// Set stores e under key.
	Set(ctx context.Context, key string, e *Entry) error
	// Tags returns when any of tags was last marked stale and expired.
	Tags(ctx context.Context, tags []string) (Tags, error)
	// Revalidate marks tags stale at the time given (expire: expired), so
	// that entries stored before it are regenerated.
	Revalidate(ctx context.Context, tags []string, expire bool, at time.Time) error
	// Lease takes the right to regenerate key for ttl, across every host
	// sharing the store; ok is false when another holder has it. release
	// gives it back early.
	Lease(ctx context.Context, key string, ttl time.Duration) (release func(), ok bool, err error)
	// Close releases the store.
	Close() error
}
