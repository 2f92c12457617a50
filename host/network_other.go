//go:build !unix

package host

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero"
)

// netRuntime is not available off Unix: stealthrocket/wasi-go's system is
// built on Unix sockets.
type netRuntime struct{ rt wazero.Runtime }

var errNoNetwork = errors.New("routes that use the network need a Unix host")

func (e *Engine) network() (*netRuntime, error) { return nil, errNoNetwork }

func (p *pool) newWASI(*instance) (context.Context, error) { return nil, errNoNetwork }

// defaultGuestSockets is the cap on guest descriptors where guests have no
// network.
func defaultGuestSockets() int { return 4096 }
