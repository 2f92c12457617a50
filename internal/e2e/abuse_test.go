package e2e

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmroute/wasmroute/abi"
	"github.com/wasmroute/wasmroute/bundle"
	"github.com/wasmroute/wasmroute/host"
)

// abuse is one host function call the hand-written module makes, with
// arguments no SDK would pass, and the result the host must return.
type abuse struct {
	fn   int // import index, see abusiveModule
	args []int64
	want int32
}

// Memory layout of the hand-written module (one 64 KiB page).
const (
	abuseResults = 1024 // i32 results, one per abuse
	abuseHead    = 2048 // a valid encoded response head
	abuseGarbage = 4096 // 16 bytes of 0xff
)

// Import indices of the hand-written module.
const (
	impReadRequestHead = iota
	impReadBody
	impWriteResponseHead
	impWriteBody
	impLog
	impKVGet
	impKVSet
	impMiddlewareNext
)

var abuses = []abuse{
	{impReadRequestHead, []int64{0xffffff00, 0x1000}, abi.ErrInvalid},
	{impReadRequestHead, []int64{65530, 0x7fffffff}, abi.ErrInvalid},
	{impReadBody, []int64{0xfffffff0, 100}, abi.ErrInvalid},
	{impReadBody, []int64{65000, 0x7fffffff}, abi.ErrInvalid},
	{impWriteResponseHead, []int64{0xfffffff0, 64}, abi.ErrInvalid},
	{impWriteResponseHead, []int64{0, 0x7fffffff}, abi.ErrInvalid},
	{impWriteResponseHead, []int64{abuseGarbage, 16}, abi.ErrInvalid},
	{impWriteBody, []int64{0, 100}, abi.ErrState}, // no head yet
	{impKVGet, []int64{0xfffffff0, 10, 0, 10}, abi.ErrInvalid},
	{impKVSet, []int64{0, 10, 0xffffff00, 100, 0}, abi.ErrInvalid},
	{impKVGet, []int64{0, 0x7fffffff, 0, 0}, abi.ErrKeyInvalid},
	{impMiddlewareNext, []int64{0, 10}, abi.ErrState}, // not a middleware call
}

// TestHandWrittenModuleAbusesTheABI serves a module written byte by byte
// that calls every host function with out-of-bounds pointers and absurd
// lengths, then sends a valid response whose body is the results it got.
// Each call must fail with the documented code and a log line, the host must
// keep serving, and another route in the bundle must be unaffected.
func TestHandWrittenModuleAbusesTheABI(t *testing.T) {
	dir := t.TempDir()
	head := (&abi.ResponseHead{Status: 200, Header: []string{"Content-Type", "application/octet-stream"}}).AppendEncode(nil)
	evil := abusiveModule(head)
	faulty, err := bundle.Load(filepath.Join(faultyDir, bundle.DirName))
	if err != nil {
		t.Fatal(err)
	}
	// The faulty app's routes, served by its module, and one more served
	// by the evil module.
	m := &bundle.Manifest{ABI: abi.Version, Routes: faulty.Routes, Modules: faulty.Modules}
	for _, mod := range faulty.Modules {
		bin, err := bundle.ReadModule(filepath.Join(faultyDir, bundle.DirName), mod)
		if err == nil {
			_, _, err = bundle.AddModule(dir, bin)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	module, sum, err := bundle.AddModule(dir, evil)
	if err != nil {
		t.Fatal(err)
	}
	m.Modules = append(m.Modules, bundle.Module{File: module, SHA256: sum, Size: int64(len(evil))})
	m.Routes = append(m.Routes, bundle.Route{Pattern: "/api/evil", Source: "hand-written", Methods: []string{"POST"}, Module: len(m.Modules) - 1})
	if _, err := bundle.Write(dir, m); err != nil {
		t.Fatal(err)
	}
	s := serveBundle(t, dir, host.Options{})

	for i := 0; i < 3; i++ {
		resp, body := s.do(t, "POST", "/api/evil", "a body the guest never manages to read")
		if resp.StatusCode != 200 || len(body) != 4*len(abuses) {
			t.Fatalf("request %d: %d, %d body bytes, want 200 and %d", i, resp.StatusCode, len(body), 4*len(abuses))
		}
		for k, a := range abuses {
			if got := int32(binary.LittleEndian.Uint32([]byte(body[4*k:]))); got != a.want {
				t.Errorf("request %d, abuse %d (import %d %v) = %d, want %d", i, k, a.fn, a.args, got, a.want)
			}
		}
		if resp, body := s.do(t, "GET", "/api/ok", ""); resp.StatusCode != 200 || !strings.HasPrefix(body, "ok ") {
			t.Fatalf("the other route: %d %q", resp.StatusCode, body)
		}
	}
	logs := s.logs.String()
	for _, want := range []string{
		`msg="guest call refused" app=`,
		`route=/api/evil function=read_request_head reason="buffer [4294967040, +4096) is outside the guest's memory"`,
		`function=write_response_head`, `function=kv_get`, `function=kv_set`, `function=log`,
		`msg="guest response refused"`, `reason="malformed response head"`,
		`msg="further refusals in this request are not logged"`,
		// It cannot be cloned, and is served from fresh instances.
		`msg="instances cannot be cloned; starting each with _initialize"`, `reason="the module has no wasmroute_init_data export`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if st := stats(s, "/api/evil"); st.Discarded != 0 || st.Calls != 3 {
		t.Errorf("evil module stats %+v: want 3 calls on a kept instance", st)
	}
}

// abusiveModule writes the module: it imports the wasmroute functions,
// exports memory, _initialize, wasmroute_abi_vN and wasmroute_handle, and
// its handle makes the abuses, then answers with their results.
func abusiveModule(head []byte) []byte {
	const i32, i64 = 0x7f, 0x7e
	types := [][2][]byte{
		{nil, nil},                         // 0: () -> ()
		{{i32, i32}, {i32}},                // 1: (i32, i32) -> i32
		{{i32, i32, i32}, nil},             // 2: (i32, i32, i32) -> ()
		{{i32, i32, i32, i32}, {i32}},      // 3
		{{i32, i32, i32, i32, i64}, {i32}}, // 4
		{{i32, i32, i32}, {i32}},           // 5: wasmroute_handle
	}
	imports := []struct {
		name string
		typ  byte
	}{
		{abi.FuncReadRequestHead, 1}, {abi.FuncReadBody, 1}, {abi.FuncWriteResponseHead, 1}, {abi.FuncWriteBody, 1},
		{abi.FuncLog, 2}, {abi.FuncKVGet, 3}, {abi.FuncKVSet, 4}, {abi.FuncMiddlewareNext, 1},
	}
	nImports := uint32(len(imports))

	var code []byte
	i32const := func(v int64) { code = append(code, 0x41); code = appendSLEB(code, int64(int32(uint32(v)))) }
	call := func(fn int) { code = append(code, 0x10); code = binary.AppendUvarint(code, uint64(fn)) }
	store := func() { code = append(code, 0x36, 0x02, 0x00) }
	for k, a := range abuses {
		i32const(int64(abuseResults + 4*k))
		for j, v := range a.args {
			if a.fn == impKVSet && j == 4 {
				code = append(code, 0x42)
				code = appendSLEB(code, v)
				continue
			}
			i32const(v)
		}
		call(a.fn)
		store()
	}
	// A log line from nowhere, then enough bad calls to hit the log cap.
	i32const(0)
	i32const(0xffffffff)
	i32const(0xffffffff)
	call(impLog)
	for i := 0; i < 10; i++ {
		i32const(0xffffff00)
		i32const(8)
		call(impWriteBody)        // ErrState: still no head
		code = append(code, 0x1a) // drop
		i32const(0xffffff00)
		i32const(8)
		call(impReadBody)
		code = append(code, 0x1a)
	}
	// The real response: head, then the results as the body.
	i32const(abuseHead)
	i32const(int64(len(head)))
	call(impWriteResponseHead)
	code = append(code, 0x1a)
	i32const(abuseResults)
	i32const(int64(4 * len(abuses)))
	call(impWriteBody)
	code = append(code, 0x1a)
	i32const(0)
	code = append(code, 0x0b)

	var mod []byte
	mod = append(mod, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)
	section := func(id byte, body []byte) {
		mod = append(mod, id)
		mod = binary.AppendUvarint(mod, uint64(len(body)))
		mod = append(mod, body...)
	}
	vec := func(n int) []byte { return binary.AppendUvarint(nil, uint64(n)) }
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }

	b := vec(len(types))
	for _, t := range types {
		b = append(b, 0x60)
		b = append(append(b, vec(len(t[0]))...), t[0]...)
		b = append(append(b, vec(len(t[1]))...), t[1]...)
	}
	section(1, b)
	b = vec(len(imports))
	for _, im := range imports {
		b = str(b, abi.ImportModule)
		b = str(b, im.name)
		b = append(b, 0x00, im.typ)
	}
	section(2, b)
	section(3, []byte{3, 0, 0, 5})    // _initialize, abi marker: () -> (); handle: type 5
	section(5, []byte{1, 0x01, 1, 1}) // one memory, exactly one page
	b = vec(4)
	b = append(str(b, "memory"), 0x02, 0)
	b = append(str(b, abi.ExportInitialize), 0x00, byte(nImports))
	b = append(str(b, abi.VersionExport(abi.Version)), 0x00, byte(nImports+1))
	b = append(str(b, abi.ExportHandle), 0x00, byte(nImports+2))
	section(7, b)
	body := append([]byte{0}, code...) // no locals
	b = vec(3)
	b = append(b, 2, 0, 0x0b, 2, 0, 0x0b) // two empty bodies
	b = append(binary.AppendUvarint(b, uint64(len(body))), body...)
	section(10, b)
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	b = vec(2)
	for _, d := range []struct {
		at   int64
		data []byte
	}{{abuseHead, head}, {abuseGarbage, garbage}} {
		b = append(b, 0x00, 0x41)
		b = appendSLEB(b, d.at)
		b = append(b, 0x0b)
		b = append(binary.AppendUvarint(b, uint64(len(d.data))), d.data...)
	}
	section(11, b)
	return mod
}

// appendSLEB appends v in signed LEB128.
func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
