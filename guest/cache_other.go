//go:build !wasip1

package guest

import (
	"strings"

	"github.com/wasmroute/wasmroute/abi"
)

// revalidate outside a module (handler tests under plain go test) has no
// cache to reach: it checks its argument as the host would, and does
// nothing else.
func revalidate(fn, s string) error {
	if s == "" || len(s) > abi.MaxCacheTag || (fn == abi.FuncRevalidatePath && !strings.HasPrefix(s, "/")) {
		return ErrInvalidTag
	}
	return nil
}
