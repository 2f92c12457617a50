package abi

import (
	"encoding/binary"
	"errors"
)

// ErrMalformed is returned by the decoders for input that is not a valid
// encoding: truncated, with a length past the end, or with trailing bytes.
var ErrMalformed = errors.New("abi: malformed head encoding")

// RequestHead is everything about a request except its body, as the host
// sends it to the guest.
//
// Header and Params are flat lists of name/value pairs: Header[0] is a name,
// Header[1] its value, and so on. A header with several values appears once per
// value, in order.
type RequestHead struct {
	Method        string
	URI           string // request target as sent by the client: escaped path and query
	Proto         string // "HTTP/1.1"
	Host          string
	RemoteAddr    string
	ContentLength int64 // -1 when unknown (chunked)
	Params        []string
	Header        []string
}

// ResponseHead is the status line and headers of a response, as the guest
// sends it to the host.
type ResponseHead struct {
	Status int
	Header []string // name/value pairs, as in RequestHead
}

// AppendEncode appends the encoding of h to dst and returns the extended slice.
func (h *RequestHead) AppendEncode(dst []byte) []byte {
	dst = appendString(dst, h.Method)
	dst = appendString(dst, h.URI)
	dst = appendString(dst, h.Proto)
	dst = appendString(dst, h.Host)
	dst = appendString(dst, h.RemoteAddr)
	dst = binary.AppendVarint(dst, h.ContentLength)
	dst = appendPairs(dst, h.Params)
	return appendPairs(dst, h.Header)
}

// Decode decodes src into h. The strings in h are substrings of src, so
// decoding allocates nothing but the growth of h.Params and h.Header, whose
// capacity is reused from earlier calls.
func (h *RequestHead) Decode(src string) error {
	d := decoder{src: src}
	h.Method = d.string()
	h.URI = d.string()
	h.Proto = d.string()
	h.Host = d.string()
	h.RemoteAddr = d.string()
	h.ContentLength = d.varint()
	h.Params = d.pairs(h.Params[:0])
	h.Header = d.pairs(h.Header[:0])
	return d.finish()
}

// AppendEncode appends the encoding of h to dst and returns the extended slice.
func (h *ResponseHead) AppendEncode(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(h.Status))
	return appendPairs(dst, h.Header)
}

// Decode decodes src into h, reusing the capacity of h.Header. The strings
// in h are substrings of src. A status outside 100..999 is malformed.
func (h *ResponseHead) Decode(src string) error {
	d := decoder{src: src}
	status := d.uvarint()
	h.Header = d.pairs(h.Header[:0])
	if err := d.finish(); err != nil {
		return err
	}
	if status < 100 || status > 999 {
		return ErrMalformed
	}
	h.Status = int(status)
	return nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendPairs(dst []byte, pairs []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(pairs)/2))
	for i := 0; i+1 < len(pairs); i += 2 {
		dst = appendString(dst, pairs[i])
		dst = appendString(dst, pairs[i+1])
	}
	return dst
}

// decoder reads from src and remembers the first error, so callers check once.
type decoder struct {
	src string
	bad bool
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	var x uint64
	var s uint
	for i := 0; i < len(d.src) && i < binary.MaxVarintLen64; i++ {
		b := d.src[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break // overflow
			}
			d.src = d.src[i+1:]
			return x | uint64(b)<<s
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
	d.bad = true
	return 0
}

func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.src)) {
		d.bad = true
		return ""
	}
	s := d.src[:n]
	d.src = d.src[n:]
	return s
}

func (d *decoder) pairs(dst []string) []string {
	n := d.uvarint()
	// Each pair takes at least two bytes, so a count larger than that is a
	// lie; refusing it keeps a hostile count from forcing a huge allocation.
	if d.bad || n > uint64(len(d.src))/2 {
		d.bad = true
		return dst
	}
	for i := uint64(0); i < n && !d.bad; i++ {
		dst = append(dst, d.string(), d.string())
	}
	return dst
}

func (d *decoder) finish() error {
	if d.bad || len(d.src) != 0 {
		return ErrMalformed
	}
	return nil
}

// MiddlewareNext is what a middleware passes on when it lets a request
// continue: the request headers the route sees (all of them, as the
// middleware left them), headers to add to the response, and a path to
// rewrite the request to ("" for none).
type MiddlewareNext struct {
	RewriteURI     string
	RequestHeader  []string // name/value pairs
	ResponseHeader []string // name/value pairs
}

// AppendEncode appends the encoding of n to dst: the rewrite as a string,
// then the two header lists as pairs.
func (n *MiddlewareNext) AppendEncode(dst []byte) []byte {
	dst = appendString(dst, n.RewriteURI)
	dst = appendPairs(dst, n.RequestHeader)
	return appendPairs(dst, n.ResponseHeader)
}

// Decode decodes src into n, reusing its slices' capacity.
func (n *MiddlewareNext) Decode(src string) error {
	d := decoder{src: src}
	n.RewriteURI = d.string()
	n.RequestHeader = d.pairs(n.RequestHeader[:0])
	n.ResponseHeader = d.pairs(n.ResponseHeader[:0])
	return d.finish()
}
