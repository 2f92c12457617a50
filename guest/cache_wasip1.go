//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/wasmroute/wasmroute/abi"
)

//go:wasmimport wasmroute revalidate_tag
func hostRevalidateTag(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute revalidate_path
func hostRevalidatePath(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport wasmroute expire_tag
func hostExpireTag(ptr unsafe.Pointer, n uint32) int32

// revalidate calls the host function fn with s.
func revalidate(fn, s string) error {
	if s == "" {
		return ErrInvalidTag
	}
	p, n := unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
	switch fn {
	case abi.FuncRevalidateTag:
		return cacheErr(hostRevalidateTag(p, n))
	case abi.FuncRevalidatePath:
		return cacheErr(hostRevalidatePath(p, n))
	default:
		return cacheErr(hostExpireTag(p, n))
	}
}
