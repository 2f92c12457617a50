package httpserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Options
		want Options
	}{
		{"zero", Options{}, Options{ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout,
			MaxConnections: DefaultMaxConnections, ShutdownTimeout: 10 * time.Second}},
		{"set", Options{ReadHeaderTimeout: time.Second, IdleTimeout: 2 * time.Second, MaxConnections: 3, ShutdownTimeout: time.Minute},
			Options{ReadHeaderTimeout: time.Second, IdleTimeout: 2 * time.Second, MaxConnections: 3, ShutdownTimeout: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.setDefaults()
			got.Logger = nil
			if got != tt.want {
				t.Fatalf("%+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestConnectionCap holds MaxConnections connections open: one more is not
// served until one of them closes, and the server closes an idle one after
// IdleTimeout.
func TestConnectionCap(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, "ok")
	})
	srv, err := Listen("127.0.0.1:0", h, Options{MaxConnections: 2, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	send := func(path string) net.Conn {
		conn, err := net.Dial("tcp", srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		return conn
	}
	held := []net.Conn{send("/hold"), send("/hold")}
	third := send("/")
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := third.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was served while two were held")
	}
	close(release)
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after the others ended: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	// Now idle: the server closes it.
	if _, err := third.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want the server to close it", err)
	}
	for _, c := range append(held, third) {
		c.Close()
	}
}
