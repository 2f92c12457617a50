package guest

import (
	"errors"
	"net/http"

	"github.com/wasmroute/wasmroute/abi"
)

// Errors of the cache functions.
var (
	// ErrInvalidTag is returned for a tag or path that is empty or over
	// 256 bytes, or a path that does not start with "/".
	ErrInvalidTag = errors.New("guest: cache tags and paths are 1 to 256 bytes, paths start with /")
	// ErrCache is returned when the host's cache store failed (the host
	// logs why).
	ErrCache = errors.New("guest: the cache store failed (see the host log)")
)

// CacheTag tags the response w is about to send, so that RevalidateTag or
// ExpireTag can reach it once the host caches it (Next.js's cacheTag). The
// host also tags every cached response with its path, for RevalidatePath.
// Call it before the response's head is written. A response with more
// than 64 tags, or a tag over 256 bytes, is sent and not cached. The tags
// never reach the client.
func CacheTag(w http.ResponseWriter, tags ...string) {
	for _, t := range tags {
		w.Header().Add(abi.CacheTagHeader, t)
	}
}

// RevalidateTag marks the app's cached responses tagged tag stale: the next
// request for each gets the stale copy while the host regenerates it in
// the background. It is Next.js's revalidateTag(tag, "max").
func RevalidateTag(tag string) error { return revalidate(abi.FuncRevalidateTag, tag) }

// RevalidatePath marks the app's cached responses to path stale, as
// RevalidateTag does for a tag (Next.js's revalidatePath).
func RevalidatePath(path string) error { return revalidate(abi.FuncRevalidatePath, path) }

// ExpireTag expires the app's cached responses tagged tag at once: the
// next request for each waits for a new one.
func ExpireTag(tag string) error { return revalidate(abi.FuncExpireTag, tag) }

// cacheErr maps a host result code to an error.
func cacheErr(code int32) error {
	switch code {
	case 0:
		return nil
	case abi.ErrTagInvalid:
		return ErrInvalidTag
	default:
		return ErrCache
	}
}
