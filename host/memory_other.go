//go:build !linux

package host

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil outside Linux: wazero's own allocator is used.
var memoryAllocator experimental.MemoryAllocator
