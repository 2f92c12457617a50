// Package httpserver is the HTTP/1.1 server the CLI puts in front of a host:
// the timeouts and the connection cap that keep idle and slow clients from
// holding the process. The host bounds each request's own waits on its
// client (host.setClientDeadline); this server bounds the rest: reading a
// request head, and connections between requests.
package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// ReadHeaderTimeout is how long a client may take to send a request
	// head. Defaults to 10 seconds.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request. Defaults to 15 seconds.
	IdleTimeout time.Duration
	// MaxConnections caps the connections open at once; more wait in the
	// listen backlog. Defaults to 4096.
	MaxConnections int
	// ShutdownTimeout is how long Serve lets requests in flight finish
	// once its context ends. Defaults to 10 seconds.
	ShutdownTimeout time.Duration
	// Logger receives net/http's own errors. Defaults to slog.Default().
	Logger *slog.Logger
	// TLSCert and TLSKey, when both are set, are the PEM files of a
	// certificate and its key: the server then speaks HTTPS.
	TLSCert, TLSKey string
}

// Defaults of Options.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 15 * time.Second
	DefaultMaxConnections    = 4096
)

func (o *Options) setDefaults() {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server serves one handler on one listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	opts Options
}

// Listen listens on addr (HOST:PORT) for h.
func Listen(addr string, h http.Handler, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return New(ln, h, opts), nil
}

// New serves h on ln.
func New(ln net.Listener, h http.Handler, opts Options) *Server {
	opts.setDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		// ReadTimeout and WriteTimeout stay unset: they cannot know a
		// route's time limit, and would cut a long stream that the route
		// allows. The host sets both deadlines per request instead.
		//
		// The host answers headers over its own limit (64 KiB) with a JSON
		// 431 and a log line; net/http's cap only stops abuse beyond that.
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return &Server{srv: srv, ln: netutil.LimitListener(ln, opts.MaxConnections), opts: opts}
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until ctx ends, then stops accepting and lets requests in
// flight finish for up to ShutdownTimeout.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.opts.TLSCert != "" && s.opts.TLSKey != "" {
			errc <- s.srv.ServeTLS(s.ln, s.opts.TLSCert, s.opts.TLSKey)
			return
		}
		errc <- s.srv.Serve(s.ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error { return s.srv.Close() }
