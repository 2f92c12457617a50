package build

import (
	"encoding/binary"
	"fmt"

	"github.com/wasmroute/wasmroute/abi"
)

// Section ids the interrupt rewrite touches.
const (
	sectionImport = 2
	sectionGlobal = 6
	sectionCode   = 10
)

// addInterrupt makes every loop of a module count down a new global and
// call the host's poll function (abi.FuncPoll) each abi.PollInterval
// iterations. The host stops a request past its time limit there, and Go's
// scheduler can preempt the goroutine running the guest, which compiled
// WebAssembly otherwise never offers. The cost is a load, a subtraction, a
// store and a branch per iteration.
func addInterrupt(bin []byte) ([]byte, error) {
	secs, err := parseSections(bin)
	if err != nil {
		return nil, err
	}
	imp, err := scanImports(secs)
	if err != nil {
		return nil, err
	}
	imported, poll := imp.globals, imp.poll
	if poll < 0 {
		return nil, fmt.Errorf("module does not import %s.%s (build it with this version of the guest SDK)", abi.ImportModule, abi.FuncPoll)
	}
	gi := findSection(secs, sectionGlobal)
	ci := findSection(secs, sectionCode)
	if gi < 0 || ci < 0 {
		return nil, fmt.Errorf("module has no global or code section")
	}
	// Append the countdown: (mut i32) = PollInterval.
	count, n := binary.Uvarint(secs[gi].body)
	if n <= 0 {
		return nil, errUnsupported
	}
	index := imported + count
	globals := binary.AppendUvarint(nil, count+1)
	globals = append(globals, secs[gi].body[n:]...)
	globals = append(globals, 0x7f, 0x01, 0x41)
	globals = appendSignedLEB(globals, abi.PollInterval)
	globals = append(globals, 0x0b)
	secs[gi].body = globals

	// global.get g; i32.const 1; i32.sub; global.set g;
	// global.get g; i32.eqz; if; i32.const N; global.set g; call poll; end
	get := binary.AppendUvarint([]byte{0x23}, index)
	set := binary.AppendUvarint([]byte{0x24}, index)
	var check []byte
	check = append(check, get...)
	check = append(check, 0x41, 0x01, 0x6b)
	check = append(check, set...)
	check = append(check, get...)
	check = append(check, 0x45, 0x04, 0x40, 0x41)
	check = appendSignedLEB(check, abi.PollInterval)
	check = append(check, set...)
	check = binary.AppendUvarint(append(check, 0x10), uint64(poll))
	check = append(check, 0x0b)
	code, err := instrumentLoops(secs[ci].body, check)
	if err != nil {
		return nil, err
	}
	secs[ci].body = code
	return encodeSections(bin, secs), nil
}

// imports is what the build needs to know of a module's imports.
type imports struct {
	globals uint64 // imported globals: they come first in the global index space
	funcs   int    // imported functions: they come first in the function index space
	poll    int    // function index of the poll import, or -1
	sockets bool   // it imports WasmEdge socket functions (stealthrocket/net)
}

// wasmEdgeSockets are the socket functions WasmEdge adds to WASI preview 1;
// sock_accept, sock_recv, sock_send and sock_shutdown are WASI's own.
var wasmEdgeSockets = map[string]bool{
	"sock_open": true, "sock_bind": true, "sock_connect": true, "sock_listen": true,
	"sock_getsockopt": true, "sock_setsockopt": true, "sock_getlocaladdr": true,
	"sock_getpeeraddr": true, "sock_recv_from": true, "sock_send_to": true, "sock_getaddrinfo": true,
}

// scanImports reads a module's import section.
func scanImports(secs []section) (imports, error) {
	imp := imports{poll: -1}
	i := findSection(secs, sectionImport)
	if i < 0 {
		return imp, nil
	}
	r := reader{b: secs[i].body}
	n := r.u32()
	funcs := 0
	for k := uint32(0); k < n && r.ok(); k++ {
		module := string(r.take(int(r.u32())))
		name := string(r.take(int(r.u32())))
		switch r.byte() {
		case 0x00: // func
			r.u32()
			if module == abi.ImportModule && name == abi.FuncPoll {
				imp.poll = funcs
			}
			if module == "wasi_snapshot_preview1" && wasmEdgeSockets[name] {
				imp.sockets = true
			}
			funcs++
		case 0x01: // table: reftype, limits
			r.byte()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global: valtype, mut
			r.skip(2)
			imp.globals++
		default:
			return imports{}, errUnsupported
		}
	}
	if !r.ok() {
		return imports{}, errUnsupported
	}
	imp.funcs = funcs
	return imp, nil
}

// usesSockets reports whether a module imports WasmEdge socket functions,
// so the host must give it a WASI with sockets.
func usesSockets(bin []byte) bool {
	secs, err := parseSections(bin)
	if err != nil {
		return false
	}
	imp, err := scanImports(secs)
	return err == nil && imp.sockets
}

// instrumentLoops rewrites a code section, inserting check after the block
// type of every loop instruction.
func instrumentLoops(code, check []byte) ([]byte, error) {
	r := reader{b: code}
	n := r.u32()
	out := binary.AppendUvarint(nil, uint64(n))
	for f := uint32(0); f < n && r.ok(); f++ {
		size := int(r.u32())
		body := r.take(size)
		if !r.ok() {
			break
		}
		nb, err := instrumentBody(body, check)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", f, err)
		}
		out = binary.AppendUvarint(out, uint64(len(nb)))
		out = append(out, nb...)
	}
	if !r.ok() || len(r.b) != 0 {
		return nil, errUnsupported
	}
	return out, nil
}

func instrumentBody(body, check []byte) ([]byte, error) {
	r := reader{b: body}
	locals := r.u32()
	for i := uint32(0); i < locals && r.ok(); i++ {
		r.u32()  // count
		r.byte() // type
	}
	if !r.ok() {
		return nil, errUnsupported
	}
	out := append([]byte(nil), body[:len(body)-len(r.b)]...)
	for len(r.b) > 0 && r.ok() {
		start := r.b
		op := r.byte()
		switch {
		case op == 0x02 || op == 0x04: // block, if
			r.blockType()
		case op == 0x03: // loop
			r.blockType()
			out = append(out, start[:len(start)-len(r.b)]...)
			out = append(out, check...)
			continue
		case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || (op >= 0x20 && op <= 0x26) || op == 0xd2:
			r.u32() // br, br_if, call, return_call, local/global/table get/set, ref.func
		case op == 0x0e: // br_table
			for k := r.u32(); k > 0 && r.ok(); k-- {
				r.u32()
			}
			r.u32()
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			r.u32()
			r.u32()
		case op == 0x1c: // select with types
			r.skip(int(r.u32()))
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			r.u32()
			r.u32()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41 || op == 0x42: // i32.const, i64.const
			r.sleb()
		case op == 0x43:
			r.skip(4)
		case op == 0x44:
			r.skip(8)
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			switch sub := r.u32(); {
			case sub <= 7: // saturating truncations
			case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
				r.u32()
				r.u32()
			case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
				r.u32()
			default:
				return nil, fmt.Errorf("unsupported instruction 0xfc %d", sub)
			}
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
			(op >= 0x45 && op <= 0xc4) || op == 0xd1:
			// no immediates
		default:
			return nil, fmt.Errorf("unsupported instruction 0x%02x", op)
		}
		out = append(out, start[:len(start)-len(r.b)]...)
	}
	if !r.ok() {
		return nil, errUnsupported
	}
	return out, nil
}

// reader decodes the parts of the binary format the rewrites need; it
// remembers the first error.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) ok() bool { return !r.bad }

func (r *reader) byte() byte {
	if r.bad || len(r.b) == 0 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b)
	if r.bad || n <= 0 || v > 1<<32-1 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *reader) sleb() {
	if _, n := readSignedLEB(r.b); n <= 0 || r.bad {
		r.bad = true
		return
	} else {
		r.b = r.b[n:]
	}
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	t := r.b[:n]
	r.b = r.b[n:]
	return t
}

func (r *reader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

// blockType skips a block type: 0x40, a value type, or a type index (s33).
func (r *reader) blockType() {
	if len(r.b) == 0 {
		r.bad = true
		return
	}
	switch c := r.b[0]; c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.b = r.b[1:]
	default:
		r.sleb()
	}
}
