package abi

import (
	"bytes"
	"reflect"
	"testing"
)

func TestRequestHeadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		head RequestHead
	}{
		{"empty", RequestHead{Params: nil, Header: nil}},
		{"typical", RequestHead{
			Method: "GET", URI: "/api/users/42?x=1", Proto: "HTTP/1.1", Host: "localhost:3000",
			RemoteAddr: "127.0.0.1:5555", ContentLength: 0,
			Params: []string{"id", "42"},
			Header: []string{"Accept", "*/*", "X-Multi", "a", "X-Multi", "b"},
		}},
		{"chunked body", RequestHead{Method: "POST", URI: "/", ContentLength: -1, Params: nil, Header: nil}},
		{"large values", RequestHead{
			Method: "PUT", URI: "/" + string(bytes.Repeat([]byte("a"), 70000)), ContentLength: 1 << 40,
			Params: []string{"path", "a/b/c"}, Header: []string{"Cookie", string(bytes.Repeat([]byte("c"), 300))},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := tt.head.AppendEncode(nil)
			var got RequestHead
			if err := got.Decode(string(enc)); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.head) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, tt.head)
			}
		})
	}
}

func TestResponseHeadRoundTrip(t *testing.T) {
	tests := []ResponseHead{
		{Status: 200},
		{Status: 204, Header: []string{"Allow", "GET, HEAD"}},
		{Status: 999, Header: []string{"Set-Cookie", "a=1", "Set-Cookie", "b=2"}},
	}
	for _, want := range tests {
		enc := want.AppendEncode(nil)
		var got ResponseHead
		if err := got.Decode(string(enc)); err != nil {
			t.Fatalf("Decode(%v): %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip: got %+v, want %+v", got, want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := (&RequestHead{Method: "GET", URI: "/", Header: []string{"A", "b"}}).AppendEncode(nil)
	tests := []struct {
		name string
		src  []byte
	}{
		{"empty", nil},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"string past end", []byte{0x05, 'G', 'E'}},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11)},
		{"huge pair count", append(bytes.Repeat([]byte{0}, 6), 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h RequestHead
			if err := h.Decode(string(tt.src)); err != ErrMalformed {
				t.Fatalf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestResponseHeadBadStatus(t *testing.T) {
	for _, status := range []int{0, 99, 1000, 1 << 40} {
		enc := (&ResponseHead{Status: status}).AppendEncode(nil)
		var h ResponseHead
		if err := h.Decode(string(enc)); err != ErrMalformed {
			t.Errorf("status %d: Decode = %v, want ErrMalformed", status, err)
		}
	}
}

func TestDecodeReusesCapacity(t *testing.T) {
	enc := string((&RequestHead{Method: "GET", URI: "/", Params: []string{"id", "1"}, Header: []string{"A", "b", "C", "d"}}).AppendEncode(nil))
	var h RequestHead
	if err := h.Decode(enc); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := h.Decode(enc); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocated %v times per run after warm-up, want 0", allocs)
	}
}

func FuzzRequestHeadDecode(f *testing.F) {
	f.Add((&RequestHead{Method: "GET", URI: "/api/users/42?a=b", Proto: "HTTP/1.1", Host: "h", RemoteAddr: "r",
		ContentLength: -1, Params: []string{"id", "42"}, Header: []string{"A", "b"}}).AppendEncode(nil))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, src []byte) {
		var h RequestHead
		if err := h.Decode(string(src)); err != nil {
			return
		}
		if len(h.Params)%2 != 0 || len(h.Header)%2 != 0 {
			t.Fatalf("decoded odd pair list %+v", h)
		}
		var again RequestHead
		if err := again.Decode(string(h.AppendEncode(nil))); err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("re-encode does not round trip: %+v vs %+v (%v)", again, h, err)
		}
	})
}

func FuzzResponseHeadDecode(f *testing.F) {
	f.Add((&ResponseHead{Status: 201, Header: []string{"Content-Type", "application/json"}}).AppendEncode(nil))
	f.Add([]byte{0xc8, 0x01, 0x00})
	f.Add([]byte{0x00})
	f.Fuzz(func(t *testing.T, src []byte) {
		var h ResponseHead
		if err := h.Decode(string(src)); err != nil {
			return
		}
		if h.Status < 100 || h.Status > 999 || len(h.Header)%2 != 0 {
			t.Fatalf("decoded invalid head %+v", h)
		}
		var again ResponseHead
		if err := again.Decode(string(h.AppendEncode(nil))); err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("re-encode does not round trip: %+v vs %+v (%v)", again, h, err)
		}
	})
}

func TestKeysRoundTrip(t *testing.T) {
	for _, keys := range [][]string{nil, {"a"}, {"user:1", "user:2", ""}} {
		got, err := DecodeKeys(string(AppendKeys(nil, keys)), nil)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("DecodeKeys(%q) = %q, %v", keys, got, err)
		}
		for i := range keys {
			if got[i] != keys[i] {
				t.Fatalf("key %d = %q, want %q", i, got[i], keys[i])
			}
		}
	}
	for _, bad := range []string{"", "\x02\x01a", "\x01\x05ab", "\xff\xff\xff\xff\x0f"} {
		if _, err := DecodeKeys(bad, nil); err != ErrMalformed {
			t.Errorf("DecodeKeys(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func FuzzDecodeKeys(f *testing.F) {
	f.Add(string(AppendKeys(nil, []string{"user:1", "user:22"})))
	f.Add("\x00")
	f.Fuzz(func(t *testing.T, src string) {
		keys, err := DecodeKeys(src, nil)
		if err != nil {
			return
		}
		if again, err := DecodeKeys(string(AppendKeys(nil, keys)), nil); err != nil || len(again) != len(keys) {
			t.Fatalf("re-encode does not round trip: %q", keys)
		}
	})
}

func FuzzMiddlewareNextDecode(f *testing.F) {
	f.Add((&MiddlewareNext{RewriteURI: "/api/x?a=1", RequestHeader: []string{"X-User", "1"}, ResponseHeader: []string{"X-Request-Id", "abc"}}).AppendEncode(nil))
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, src []byte) {
		var n MiddlewareNext
		if err := n.Decode(string(src)); err != nil {
			return
		}
		var again MiddlewareNext
		if err := again.Decode(string(n.AppendEncode(nil))); err != nil || !reflect.DeepEqual(again, n) {
			t.Fatalf("re-encode does not round trip: %+v vs %+v", again, n)
		}
	})
}
