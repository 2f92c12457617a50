// Package abi is the contract between the wasmroute host and a guest module:
// the names of the functions each side provides, the result codes they return,
// the ABI version marker, and the binary encoding of request and response
// heads.
//
// Both the host (github.com/wasmroute/wasmroute/host) and the guest SDK
// (github.com/wasmroute/wasmroute/guest) import this package; neither imports
// the other. It uses only the standard library and compiles for the host and
// for GOOS=wasip1. README.md beside this file is the full specification, written
// so that a guest in another language can implement it.
package abi

import (
	"encoding/binary"
	"strconv"
)

// Version is the ABI version this package describes. A guest declares the
// version it speaks by exporting a function named VersionExport(Version);
// the host refuses modules that declare any other version.
const Version = 3

// VersionExportPrefix starts the name of the export that declares a guest's ABI
// version: "wasmroute_abi_v1" declares version 1.
const VersionExportPrefix = "wasmroute_abi_v"

// VersionExport returns the name of the export a guest of ABI version v must
// provide. The export is a function with no parameters and no results.
func VersionExport(v int) string { return VersionExportPrefix + strconv.Itoa(v) }

// ImportModule is the module name under which the host provides its functions.
const ImportModule = "wasmroute"

// Names of the functions the host provides in ImportModule. Pointers and
// lengths are offsets and byte counts in the guest's linear memory (i32).
const (
	// FuncReadRequestHead copies the encoded request head of the current
	// request into guest memory: (ptr, len i32) -> i32. It returns the head's
	// length; if len is smaller than that, nothing is copied.
	FuncReadRequestHead = "read_request_head"
	// FuncReadBody reads the next bytes of the request body into guest memory:
	// (ptr, len i32) -> i32. It returns the number of bytes read, 0 at the end
	// of the body, or a negative result code.
	FuncReadBody = "read_body"
	// FuncWriteResponseHead sends the encoded response head of a streamed
	// response: (ptr, len i32) -> i32. The body follows through
	// FuncWriteBody; the host frames it (chunked on HTTP/1.1). A head with
	// an informational status (100-199 but 101) is sent at once as an
	// interim response, and the final head follows; otherwise it may be
	// called once per request, before any body bytes. It returns 0 or a
	// negative result code. The host drops a Content-Length header and
	// refuses the headers that frame the connection (Transfer-Encoding,
	// Connection, Keep-Alive, Proxy-Connection, Upgrade, Trailer, TE),
	// status 101, and statuses outside 100-599.
	FuncWriteResponseHead = "write_response_head"
	// FuncWriteBody sends response body bytes: (ptr, len i32) -> i32. It
	// returns 0 or a negative result code.
	FuncWriteBody = "write_body"
	// FuncRespond sends a whole response in one call: (head_ptr, head_len,
	// body_ptr, body_len i32) -> i32. The body is complete, so the host sends
	// it with a Content-Length it computes. It returns 0 or a negative result
	// code. A guest uses it instead of FuncWriteResponseHead and
	// FuncWriteBody for a response it has whole.
	FuncRespond = "respond"
	// FuncFlush sends everything written so far to the client: () -> i32.
	FuncFlush = "flush"
	// FuncLog writes one log line at a level: (level, ptr, len i32) -> ().
	FuncLog = "log"
)

// ExportHandle is the name of the function a guest exports to serve one
// request: (route, head_len, flags i32) -> i32. route is the index of the
// route in the app's manifest, or NoRoute; head_len is the size of the
// encoded request head the guest then reads with FuncReadRequestHead; flags
// is a set of the Flag constants. The result is HandleOK or HandleAborted.
//
// One module serves every route of an app: its dispatcher finds the route's
// handlers by the index.
const ExportHandle = "wasmroute_handle"

// NoRoute is the route index the host passes with FlagMiddleware for a
// request that matches no route the module serves: the guest runs only the
// app's middleware, which answers or tells the host how the request goes on
// (FuncMiddlewareNext).
const NoRoute = 0xffffffff

// Flags the host passes to ExportHandle.
const (
	// FlagMiddleware asks a module built with the app's middleware to run
	// the middleware first, in the same call. The middleware either
	// answers, or lets the request go on to the route's handler in the same
	// instance, or rewrites it: then the guest reports the rewrite with
	// FuncMiddlewareNext and returns, and the host routes the request again.
	// With NoRoute, a middleware that lets the request go on always
	// reports it with FuncMiddlewareNext.
	FlagMiddleware = 1 << 0
)

// ExportInitialize is the reactor initialisation function the host calls once
// per instance before the first request (WASI reactor convention).
const ExportInitialize = "_initialize"

// Exports that let the host clone an initialised instance (see "Snapshots
// and clones" in README.md). A guest without them is served from fresh
// instances only.
const (
	// ExportInitData copies the module's data segments, which the build
	// made passive, into memory: () -> (). The host calls it before
	// ExportInitialize in a fresh instance, and never in a clone, whose
	// memory is the snapshot's.
	ExportInitData = "wasmroute_init_data"
	// ExportGlobalPrefix starts the names under which the build exports
	// every mutable global (ExportGlobalPrefix + its index), so that the
	// host can read them after ExportInitialize and set them in a clone.
	ExportGlobalPrefix = "wasmroute_global_"
	// ExportReseed gives a clone randomness of its own: () -> i32. The
	// host calls it in every clone before its first request; the guest
	// reseeds whatever random state its runtime keeps (math/rand, map
	// seeds) from random_get and returns 0, or non-zero if it cannot, and
	// the host then stops cloning the module.
	ExportReseed = "wasmroute_reseed"
)

// Results of ExportHandle: HandleOK or HandleAborted in the low byte, with
// HandleRetire possibly set, and the count of goroutines left behind in the
// top 16 bits (result >> HandleLeftShift).
const (
	// HandleOK means the guest sent a complete response.
	HandleOK = 0
	// HandleAborted means the guest gave up after the response head was sent
	// (a panic mid-stream); the host must abort the connection so the client
	// sees a truncated response rather than a complete one.
	HandleAborted = 1
	// HandleRetire asks the host to retire the instance after this request:
	// the handler left goroutines behind that did not end, which would
	// otherwise run during later requests.
	HandleRetire = 1 << 8
	// HandleLeftShift is where the count of goroutines left behind starts.
	HandleLeftShift = 16
)

// FuncHandlerDone tells the host the response is complete and the handler
// returned, before the guest gives goroutines the handler left behind a
// chance to end: () -> (). From then on the host allows the call only a
// short grace; a goroutine still running past it stops the guest, the
// instance is discarded, and the client keeps its complete response.
const FuncHandlerDone = "handler_done"

// Result codes the host functions return. All are negative so they never
// collide with a byte count.
const (
	// ErrIO means the operation failed: the client went away, or the request
	// body ended before its declared length.
	ErrIO = -1
	// ErrBodyTooLarge means the request body exceeds the route's limit.
	ErrBodyTooLarge = -2
	// ErrState means the call is not valid now, such as a second response
	// head or body bytes before the head.
	ErrState = -3
	// ErrInvalid means the guest passed an encoding the host cannot decode or
	// accept, such as a malformed response head.
	ErrInvalid = -4
)

// Log levels for FuncLog. They match log/slog's levels.
const (
	LogDebug = -4
	LogInfo  = 0
	LogWarn  = 4
	LogError = 8
)

// Key-value store functions the host provides in ImportModule. Keys are
// UTF-8 strings of 1 to MaxKVKey bytes; values are at most MaxKVValue bytes.
// The store is shared by every route and instance of an app.
const (
	// FuncKVGet copies the value of a key into guest memory:
	// (key_ptr, key_len, buf_ptr, buf_len) -> i32. It returns the value's
	// length, copying it only if it fits in buf_len (call again with a
	// larger buffer otherwise), or ErrNotFound or another error code.
	FuncKVGet = "kv_get"
	// FuncKVSet stores a value: (key_ptr, key_len, val_ptr, val_len,
	// ttl_ms i64) -> i32. ttl_ms 0 means no expiry. Returns 0 or an error
	// code; on error the previous value is unchanged.
	FuncKVSet = "kv_set"
	// FuncKVDelete removes a key: (key_ptr, key_len) -> i32. Deleting a
	// missing key is not an error.
	FuncKVDelete = "kv_delete"
	// FuncKVExists reports whether a key is set: (key_ptr, key_len) -> i32,
	// 1 or 0, or an error code.
	FuncKVExists = "kv_exists"
	// FuncKVKeys lists keys with a prefix in byte order, at most MaxKVKeys,
	// starting after a cursor (the last key of the previous page, empty for
	// the first): (prefix_ptr, prefix_len, after_ptr, after_len, buf_ptr,
	// buf_len) -> i32. The list is encoded as a uvarint count and that many
	// strings (see README.md); the result is its length, copied only if it
	// fits, as for FuncKVGet.
	FuncKVKeys = "kv_keys"
	// FuncKVIncr adds a delta to the decimal integer stored under a key (a
	// missing key counts as 0), atomically: (key_ptr, key_len, delta i64,
	// out_ptr i32) -> i32. It writes the new value to out_ptr as 8 bytes,
	// little-endian, and returns 0, or ErrNotInteger or another error code.
	FuncKVIncr = "kv_incr"
	// FuncKVCompareAndSwap stores a value only if the key holds an expected
	// one, atomically: (key_ptr, key_len, old_ptr, old_len, val_ptr,
	// val_len i32, ttl_ms i64) -> i32. old_len 0xffffffff expects the key
	// not to be set. It returns 1 if it stored the value, 0 if the key held
	// something else, or an error code.
	FuncKVCompareAndSwap = "kv_cas"
)

// Limits of the key-value store.
const (
	MaxKVKey   = 512     // bytes in a key
	MaxKVValue = 4 << 20 // bytes in a value
	MaxKVKeys  = 1000    // keys one FuncKVKeys call returns
)

// Result codes of the key-value functions, besides ErrInvalid (a pointer
// outside memory) and ErrState (no request is being served).
const (
	// ErrNotFound means the key is not set (or has expired).
	ErrNotFound = -5
	// ErrKeyInvalid means the key is empty or longer than MaxKVKey.
	ErrKeyInvalid = -6
	// ErrValueTooLarge means the value is longer than MaxKVValue.
	ErrValueTooLarge = -7
	// ErrStore means the store failed; the host logs why.
	ErrStore = -8
	// ErrQuotaExceeded means the write would take the app's store past its
	// quota; nothing changed.
	ErrQuotaExceeded = -9
	// ErrNotInteger means FuncKVIncr found a value that is not a decimal
	// integer, or would overflow.
	ErrNotInteger = -10
)

// Response cache functions the host provides in ImportModule, for
// Next.js's revalidateTag, revalidatePath and an immediate expiry. Each
// takes (ptr, len i32) -> i32: a tag, or a path starting with "/", of 1
// to MaxCacheTag bytes. They return 0 (also when the host keeps no
// cache), ErrTagInvalid, or ErrStore when the cache's store failed.
const (
	// FuncRevalidateTag marks the app's cached responses with a tag stale:
	// the next request for each gets the stale copy while the host
	// regenerates it in the background.
	FuncRevalidateTag = "revalidate_tag"
	// FuncRevalidatePath does the same for the responses to a path: every
	// cached response carries its path as a tag.
	FuncRevalidatePath = "revalidate_path"
	// FuncExpireTag expires the responses with a tag at once: the next
	// request for each waits for a new one.
	FuncExpireTag = "expire_tag"
)

// CacheTagHeader is the response header in which a guest names the tags of
// its response, one value per tag. The host reads it, keeps the tags with a
// cached response, and never sends the header to the client. A response
// with more than MaxCacheTags tags, or a tag over MaxCacheTag bytes, is
// served and not cached.
const CacheTagHeader = "X-Wasmroute-Cache-Tag"

// Limits of cache tags.
const (
	MaxCacheTag  = 256 // bytes in a tag or a revalidated path
	MaxCacheTags = 64  // tags on one response
)

// ErrTagInvalid means a tag or path is empty, too long, or a path does not
// start with "/".
const ErrTagInvalid = -11

// KVAbsent is the old_len of FuncKVCompareAndSwap that expects the key not
// to be set.
const KVAbsent = 0xffffffff

// AppendKeys appends the encoding of a key list to dst.
func AppendKeys(dst []byte, keys []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(keys)))
	for _, k := range keys {
		dst = appendString(dst, k)
	}
	return dst
}

// DecodeKeys decodes a key list, reusing dst's capacity. The strings are
// substrings of src.
func DecodeKeys(src string, dst []string) ([]string, error) {
	d := decoder{src: src}
	n := d.uvarint()
	if d.bad || n > uint64(len(d.src)) {
		return dst, ErrMalformed
	}
	dst = dst[:0]
	for i := uint64(0); i < n && !d.bad; i++ {
		dst = append(dst, d.string())
	}
	return dst, d.finish()
}

// FuncMiddlewareNext is how a middleware module lets a request continue to
// its route instead of answering it: (ptr, len i32) -> i32, with an encoded
// MiddlewareNext. A middleware calls it at most once, and only if it sent no
// response head.
const FuncMiddlewareNext = "middleware_next"

// FuncPoll is called by a guest now and then while it runs: () -> (). It
// returns, or, once the request has run past its time limit, stops the guest
// (the call traps and the instance is discarded). `wasmroute build` inserts
// calls to it into every loop of a module, behind a countdown in a mutable
// global, so a loop that never ends is stopped, and the host's Go runtime
// regularly gets a point where it can preempt the guest's goroutine.
const FuncPoll = "poll"

// PollInterval is how many loop iterations a guest runs between FuncPoll
// calls.
const PollInterval = 10000
