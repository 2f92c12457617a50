//go:build wasip1

package route

import "unsafe"

//go:wasmimport wasi_snapshot_preview1 sock_open
func sockOpen(af, socktype int32, fd unsafe.Pointer) uint32

// hoardSockets opens up to n TCP sockets and never closes them. It returns
// how many it got and the errno of the first refusal.
func hoardSockets(n int) (opened int, errno uint32) {
	for range n {
		var fd int32
		if errno = sockOpen(1, 2, unsafe.Pointer(&fd)); errno != 0 { // AF_INET, SOCK_STREAM
			return opened, errno
		}
		opened++
	}
	return opened, 0
}
