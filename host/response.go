package host

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/host/cache"
)

// This file is the response side of a guest call. The host owns HTTP framing
// on the wire: a guest chooses a status, headers and body bytes, and the host
// decides how they are delimited. So a guest's Content-Length is dropped (the
// host computes it for a whole response), headers that frame or hijack the
// connection are refused, and only 200-599 can be a final status.

// maxInterim caps the informational (1xx) responses one request may send.
const maxInterim = 4

// framingHeader says what the host does with a response header a guest sends
// that belongs to the connection rather than the response, by canonical name.
var framingHeader = map[string]bool{
	"Content-Length":    false, // dropped: the host computes it
	"Transfer-Encoding": true,  // refused
	"Connection":        true,
	"Keep-Alive":        true,
	"Proxy-Connection":  true,
	"Upgrade":           true,
	"Trailer":           true,
	"Te":                true,
}

// responseHead checks and applies an encoded response head from the guest. It
// returns 0 and the status once the head is on c.w's header, interim when it
// was an informational response (already sent), or a negative code after
// answering or logging the refusal.
func (c *call) responseHead(mod api.Module, fn string, ptr, n uint32) (status int, interim bool, code int32) {
	if c.headSent {
		return 0, false, abi.ErrState
	}
	if c.bodyStatus != 0 {
		// Whatever the handler made of the body it got, the client learns
		// the real reason.
		c.answerBodyFailure()
		return 0, false, abi.ErrIO
	}
	limit := c.h.opts.MaxResponseHeaderBytes
	if n > uint32(limit)+16 {
		// Checked before the bytes are copied out of guest memory.
		return 0, false, c.refuseHead("response headers over " + strconv.Itoa(limit) + " bytes")
	}
	buf, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return 0, false, c.outOfBounds(fn, ptr, n)
	}
	rh := &c.respHead
	if err := rh.Decode(string(buf)); err != nil {
		return 0, false, c.refuseHead("malformed response head")
	}
	switch st := rh.Status; {
	case st == http.StatusSwitchingProtocols:
		return 0, false, c.refuseHead("status 101: the host owns the connection")
	case st < 100 || st > 599:
		return 0, false, c.refuseHead("status " + strconv.Itoa(st) + " is not a valid HTTP status")
	}
	size := 0
	for i := 0; i < len(rh.Header); i += 2 {
		name, value := rh.Header[i], rh.Header[i+1]
		if !validHeaderName(name) || !validHeaderValue(value) {
			return 0, false, c.refuseHead("invalid response header " + strconv.Quote(name))
		}
		if refused, ok := framingHeader[http.CanonicalHeaderKey(name)]; ok && refused {
			return 0, false, c.refuseHead("response header " + strconv.Quote(name) + " is the host's to set")
		}
		size += len(name) + len(value) + 4
	}
	if size > limit {
		return 0, false, c.refuseHead("response headers over " + strconv.Itoa(limit) + " bytes")
	}
	hdr := c.w.Header()
	if rh.Status < 200 {
		return rh.Status, true, c.interim(rh.Status, rh.Header)
	}
	for i := 0; i < len(rh.Header); i += 2 {
		if strings.EqualFold(rh.Header[i], cache.TagHeader) {
			c.w.tags = append(c.w.tags, rh.Header[i+1]) // for the cache, never sent
			continue
		}
		hdr.Add(rh.Header[i], rh.Header[i+1])
	}
	hdr.Del("Content-Length")
	return rh.Status, false, 0
}

// interim sends an informational response (100 Continue, 103 Early Hints)
// with its own headers, as net/http does for a 1xx WriteHeader. The final
// response starts again from the headers the host had before.
func (c *call) interim(status int, pairs []string) int32 {
	if !c.r.ProtoAtLeast(1, 1) {
		return 0 // HTTP/1.0 clients get no interim responses
	}
	if c.interims++; c.interims > maxInterim {
		return c.refuseHead("more than " + strconv.Itoa(maxInterim) + " informational responses")
	}
	hdr := c.w.Header()
	saved := hdr.Clone()
	for i := 0; i < len(pairs); i += 2 {
		if http.CanonicalHeaderKey(pairs[i]) != "Content-Length" {
			hdr.Add(pairs[i], pairs[i+1])
		}
	}
	_ = c.onClient(func() error { c.w.ResponseWriter.WriteHeader(status); return nil })
	clear(hdr)
	for k, v := range saved {
		hdr[k] = v
	}
	return 0
}

// refuseHead logs a response head the host will not send, and returns the
// code for the guest; the request ends in a 500 (invoke).
func (c *call) refuseHead(reason string) int32 {
	c.refuse(reason)
	return abi.ErrInvalid
}

// writeResponseHead starts a streamed response: the body follows through
// write_body, chunked on HTTP/1.1.
func writeResponseHead(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	if c == nil {
		result(stack, abi.ErrState)
		return
	}
	status, interim, code := c.responseHead(mod, abi.FuncWriteResponseHead, uint32(stack[0]), uint32(stack[1]))
	if code != 0 || interim {
		result(stack, code)
		return
	}
	c.headSent = true
	c.w.WriteHeader(status)
	result(stack, 0)
}

// respond sends a whole response in one call: the head, and a body that is
// complete, so the host sets its Content-Length.
func respond(ctx context.Context, mod api.Module, stack []uint64) {
	c := callFrom(ctx)
	if c == nil {
		result(stack, abi.ErrState)
		return
	}
	body, ok := c.guestBytes(mod, abi.FuncRespond, uint32(stack[2]), uint32(stack[3]), stack)
	if !ok {
		return
	}
	status, interim, code := c.responseHead(mod, abi.FuncRespond, uint32(stack[0]), uint32(stack[1]))
	switch {
	case code != 0:
		result(stack, code)
		return
	case interim:
		result(stack, abi.ErrInvalid)
		c.refuse("an informational status cannot carry a whole response")
		return
	}
	c.headSent = true
	if bodyAllowed(status) {
		c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	} else if len(body) > 0 {
		c.refuse("status " + strconv.Itoa(status) + " cannot have a body; body dropped")
		body = nil
	}
	c.w.WriteHeader(status)
	if len(body) == 0 || c.r.Method == http.MethodHead {
		result(stack, 0)
		return
	}
	result(stack, c.write(body))
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// responseBuffer is what net/http buffers of a response before it writes
// to the connection (bufferBeforeChunkingSize in net/http).
const responseBuffer = 2048

// write sends body bytes to the client. A write that may reach the socket
// runs without the call's CPU slot, since a slow client can hold it. One
// that fits net/http's buffer, before any flush, cannot block, so the call
// keeps its slot: giving it up would let a new request take it and make
// another instance while this one waits to come back.
func (c *call) write(p []byte) int32 {
	if c.failed {
		return abi.ErrIO
	}
	if !c.flushed && c.w.size+int64(len(p)) <= responseBuffer {
		if _, err := c.w.Write(p); err != nil {
			c.writeFailed(err)
			return abi.ErrIO
		}
		return 0
	}
	if err := c.onClient(func() error { _, err := c.w.Write(p); return err }); err != nil {
		c.writeFailed(err)
		return abi.ErrIO
	}
	return 0
}

// streaming starts write_body and flush: it returns the call, or false
// after setting the result when there is no head yet or the client failed.
func streaming(ctx context.Context, stack []uint64) (*call, bool) {
	c := callFrom(ctx)
	switch {
	case c == nil || !c.headSent:
		result(stack, abi.ErrState)
		return nil, false
	case c.failed:
		result(stack, abi.ErrIO)
		return nil, false
	}
	return c, true
}

func writeBody(ctx context.Context, mod api.Module, stack []uint64) {
	c, ok := streaming(ctx, stack)
	if !ok {
		return
	}
	buf, ok := c.guestBytes(mod, abi.FuncWriteBody, uint32(stack[0]), uint32(stack[1]), stack)
	if !ok {
		return
	}
	if c.r.Method == http.MethodHead {
		result(stack, 0)
		return
	}
	result(stack, c.write(buf))
}

func flush(ctx context.Context, mod api.Module, stack []uint64) {
	c, ok := streaming(ctx, stack)
	if !ok {
		return
	}
	c.flushed = true
	if err := c.onClient(c.w.FlushError); err != nil {
		c.writeFailed(err)
		result(stack, abi.ErrIO)
		return
	}
	result(stack, 0)
}
