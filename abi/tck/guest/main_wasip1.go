//go:build wasip1

package main

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unsafe"

	"github.com/wasmroute/wasmroute/abi"
)

//go:wasmimport wasmroute read_request_head
func readRequestHead(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute read_body
func readBody(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute write_response_head
func writeResponseHead(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute write_body
func writeBody(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute respond
func respond(head unsafe.Pointer, headLen uint32, body unsafe.Pointer, bodyLen uint32) int32

//go:wasmimport wasmroute flush
func flush() int32

//go:wasmimport wasmroute revalidate_tag
func revalidateTag(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute revalidate_path
func revalidatePath(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute expire_tag
func expireTag(ptr unsafe.Pointer, n uint32) int32

//go:wasmexport wasmroute_abi_v3
func abiVersion() {}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// handle dispatches by the route's index in tck.Routes.
//
//go:wasmexport wasmroute_handle
func handle(route, headLen, flags uint32) uint32 {
	buf := make([]byte, headLen)
	if n := readRequestHead(ptr(buf), headLen); n != int32(headLen) {
		return abi.HandleAborted
	}
	var h abi.RequestHead
	if err := h.Decode(string(buf)); err != nil {
		return abi.HandleAborted
	}
	switch route {
	case 0:
		return echo(&h)
	case 1:
		return head(&h)
	case 2:
		return status(&h)
	case 3:
		return stream(&h)
	case 4:
		return errorsRoute(headLen)
	case 5:
		return cacheRoute(&h)
	}
	return send(500, nil, "no such route")
}

// send answers a whole response with respond.
func send(code int, header []string, body string) uint32 {
	enc := (&abi.ResponseHead{Status: code, Header: header}).AppendEncode(nil)
	b := []byte(body)
	if respond(ptr(enc), uint32(len(enc)), ptr(b), uint32(len(b))) < 0 {
		return abi.HandleAborted
	}
	return abi.HandleOK
}

func echo(h *abi.RequestHead) uint32 {
	header := []string{"X-Tck-Content-Length", strconv.FormatInt(h.ContentLength, 10)}
	for i := 0; i+1 < len(h.Header); i += 2 {
		if strings.HasPrefix(h.Header[i], "X-Tck-") {
			header = append(header, h.Header[i], h.Header[i+1])
		}
	}
	enc := (&abi.ResponseHead{Status: 200, Header: header}).AppendEncode(nil)
	buf := make([]byte, 1000)
	sent := false
	for {
		n := readBody(ptr(buf), uint32(len(buf)))
		if n < 0 {
			if sent {
				return abi.HandleAborted
			}
			return abi.HandleOK // the host answers the failed body
		}
		if !sent {
			if writeResponseHead(ptr(enc), uint32(len(enc))) < 0 {
				return abi.HandleAborted
			}
			sent = true
		}
		if n == 0 {
			return abi.HandleOK
		}
		if writeBody(ptr(buf), uint32(n)) < 0 {
			return abi.HandleAborted
		}
	}
}

func head(h *abi.RequestHead) uint32 {
	b, _ := json.Marshal(map[string]any{"method": h.Method, "uri": h.URI, "proto": h.Proto, "host": h.Host,
		"contentLength": h.ContentLength, "params": h.Params, "header": h.Header})
	return send(200, []string{"Content-Type", "application/json"}, string(b))
}

func query(h *abi.RequestHead) url.Values {
	_, q, _ := strings.Cut(h.URI, "?")
	v, _ := url.ParseQuery(q)
	return v
}

func status(h *abi.RequestHead) uint32 {
	code := 0
	for i := 0; i+1 < len(h.Params); i += 2 {
		if h.Params[i] == "status" {
			code, _ = strconv.Atoi(h.Params[i+1])
		}
	}
	var header []string
	for _, kv := range query(h)["header"] {
		name, value, _ := strings.Cut(kv, ":")
		header = append(header, name, value)
	}
	body := "status " + strconv.Itoa(code)
	if code < 200 || code == 204 || code == 304 {
		body = ""
	}
	return send(code, header, body)
}

func stream(h *abi.RequestHead) uint32 {
	n, err := strconv.Atoi(query(h).Get("n"))
	if err != nil {
		n = 3
	}
	enc := (&abi.ResponseHead{Status: 200, Header: []string{"Content-Type", "text/plain"}}).AppendEncode(nil)
	if writeResponseHead(ptr(enc), uint32(len(enc))) < 0 {
		return abi.HandleAborted
	}
	for i := range n {
		line := []byte("line " + strconv.Itoa(i) + "\n")
		if writeBody(ptr(line), uint32(len(line))) < 0 || flush() < 0 {
			return abi.HandleAborted
		}
	}
	return abi.HandleOK
}

func errorsRoute(headLen uint32) uint32 {
	got := map[string]int32{}
	x := []byte("x")
	got["writeBodyBeforeHead"] = writeBody(ptr(x), 1)
	bad := []byte{0xff, 0xff}
	got["badHead"] = writeResponseHead(ptr(bad), uint32(len(bad)))
	one := make([]byte, 1)
	got["shortHeadBuffer"] = readRequestHead(ptr(one), 1)
	enc := (&abi.ResponseHead{Status: 200, Header: []string{"Content-Type", "application/json"}}).AppendEncode(nil)
	if writeResponseHead(ptr(enc), uint32(len(enc))) < 0 {
		return abi.HandleAborted
	}
	got["secondHead"] = writeResponseHead(ptr(enc), uint32(len(enc)))
	got["respondAfterHead"] = respond(ptr(enc), uint32(len(enc)), nil, 0)
	b, _ := json.Marshal(got)
	if writeBody(ptr(b), uint32(len(b))) < 0 {
		return abi.HandleAborted
	}
	return abi.HandleOK
}

// generated counts the answers of /tck/cache, so each differs.
var generated int

func cacheRoute(h *abi.RequestHead) uint32 {
	if h.Method == "GET" {
		generated++
		return send(200, []string{"Cache-Control", "s-maxage=60", abi.CacheTagHeader, "tck"}, "generated "+strconv.Itoa(generated))
	}
	call := func(fn func(unsafe.Pointer, uint32) int32, s string) int32 {
		b := []byte(s)
		if len(b) == 0 {
			return fn(nil, 0)
		}
		return fn(ptr(b), uint32(len(b)))
	}
	got := map[string]int32{
		"tag":      call(revalidateTag, "tck"),
		"path":     call(revalidatePath, "/tck/cache"),
		"expire":   call(expireTag, "tck"),
		"empty":    call(revalidateTag, ""),
		"long":     call(revalidateTag, strings.Repeat("x", abi.MaxCacheTag+1)),
		"relative": call(revalidatePath, "tck"),
	}
	b, _ := json.Marshal(got)
	return send(200, []string{"Content-Type", "application/json"}, string(b))
}

// main is not called: the module is a reactor.
func main() {}
