package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/host/cache"
)

// The response cache's host functions: revalidate_tag, revalidate_path and
// expire_tag, which a handler calls after it changes what cached responses
// show.

// revalidateFunc returns the host function that revalidates a tag (path:
// the path's tag), or expires it.
func revalidateFunc(fn string, path, expire bool) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		c := callFrom(ctx)
		if c == nil {
			result(stack, abi.ErrState)
			return
		}
		ptr, n := uint32(stack[0]), uint32(stack[1])
		if n == 0 || n > abi.MaxCacheTag {
			result(stack, abi.ErrTagInvalid)
			return
		}
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			result(stack, c.outOfBounds(fn, ptr, n))
			return
		}
		tag := string(b)
		if path {
			if !strings.HasPrefix(tag, "/") {
				result(stack, abi.ErrTagInvalid)
				return
			}
			tag = cache.PathTag(tag)
		}
		// The store may be across the network: the slot is given back
		// while it answers.
		held := c.pause()
		err := c.h.revalidate(c, []string{tag}, expire)
		c.resume(held)
		if err != nil {
			// A guest may call this in a loop: the line is the cache's,
			// once every cacheErrorEvery.
			c.h.cacheError("cache revalidation failed", err)
			result(stack, abi.ErrStore)
			return
		}
		result(stack, 0)
	}
}

// revalidate marks tags (in the app's namespace) stale, or expired.
func (h *Host) revalidate(ctx context.Context, tags []string, expire bool) error {
	if h.cache == nil || len(tags) == 0 {
		return nil
	}
	keys := make([]string, len(tags))
	for i, t := range tags {
		keys[i] = h.tagKey(t)
	}
	return h.cache.Revalidate(ctx, keys, expire, time.Now())
}

// ExpireAll expires every cached response of the app: the next request
// for each waits for a new one.
func (h *Host) ExpireAll(ctx context.Context) error {
	return h.revalidate(ctx, []string{cache.AppTag}, true)
}

// ErrBadTag is returned by Revalidate for a tag or path it cannot take.
var ErrBadTag = errors.New("bad cache tag")

// Revalidate marks the app's cached responses with any of tags, or to
// any of paths, stale: each next request gets the stale copy while the host
// regenerates it. With expire they are expired instead, and the next
// request waits for a new one. It is what a guest's RevalidateTag,
// RevalidatePath and ExpireTag do, for callers outside (an admin API).
func (h *Host) Revalidate(ctx context.Context, tags, paths []string, expire bool) error {
	all := make([]string, 0, len(tags)+len(paths))
	for _, t := range tags {
		if t == "" || len(t) > abi.MaxCacheTag {
			return fmt.Errorf("%w: %q (1 to %d bytes)", ErrBadTag, t, abi.MaxCacheTag)
		}
		all = append(all, t)
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") || len(p) > abi.MaxCacheTag {
			return fmt.Errorf("%w: path %q (starting with /, at most %d bytes)", ErrBadTag, p, abi.MaxCacheTag)
		}
		all = append(all, cache.PathTag(p))
	}
	return h.revalidate(ctx, all, expire)
}
