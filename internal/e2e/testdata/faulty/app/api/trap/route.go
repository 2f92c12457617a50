package route

import (
	"net/http"
	"unsafe"
)

var addr uintptr = 0xFFFFFFF0

// GET stores past the end of linear memory: a WebAssembly trap, not a Go panic.
func GET(w http.ResponseWriter, r *http.Request) {
	*(*int64)(unsafe.Pointer(addr)) = 1
}
