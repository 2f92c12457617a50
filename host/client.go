package host

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
)

// This file is the client's side of a request: how long the host waits on
// it, what a request body that fails to arrive gets, and when the connection
// must not carry another request.

// clientGrace is how long the host still writes to a client after the guest
// call ended: its own error answer, and net/http's last flush.
const clientGrace = 5 * time.Second

// maxDrain is how much of a body the guest left unread the host reads so
// the connection can carry another request (net/http's own figure). A larger
// remainder closes the connection instead.
const maxDrain = 256 << 10

// setClientDeadline bounds the host's waits on the client (body reads,
// writes, flushes) at t. A request then cannot hold an instance past its
// time limit by sending or reading slowly. Writers that cannot set deadlines
// (an httptest.ResponseRecorder) are left alone.
func setClientDeadline(w http.ResponseWriter, read bool, t time.Time) {
	rc := http.NewResponseController(w)
	if read {
		_ = rc.SetReadDeadline(t)
	}
	_ = rc.SetWriteDeadline(t)
}

// closeAfterResponse makes net/http close the connection once the response
// is sent, even if the head is already out: the documented effect of a
// MaxBytesReader reaching its limit. w must be the server's own writer.
func closeAfterResponse(w http.ResponseWriter) {
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(make([]byte, 1))
}

// endBody runs when the host is done with a request that has a body. It
// sends the response on, then reads what the guest left unread, up to maxDrain, so the connection can
// carry another request. A body that failed to read, or that did not end
// within maxDrain, closes the connection after the response: otherwise the
// bytes left on the wire would be read as the next request (request
// smuggling through a malformed chunked body).
func endBody(w http.ResponseWriter, r *http.Request, rec *recorder) {
	if rec.status != 0 && !rec.aborted {
		// The client has its answer before the host waits on the rest of
		// its body.
		_ = rec.FlushError()
	}
	if !rec.closeConn {
		setClientDeadline(w, true, time.Now().Add(clientGrace))
		if _, err := io.CopyN(io.Discard, r.Body, maxDrain); err != io.EOF {
			rec.closeConn = true
		}
	}
	if rec.closeConn {
		closeAfterResponse(w)
	}
	r.Body.Close()
}

// onClient runs an I/O on the client without the call's CPU slot, and
// remembers how long it waited.
func (c *call) onClient(op func() error) error {
	held := c.pause()
	start := time.Now()
	err := op()
	c.clientWait = time.Since(start)
	c.resume(held)
	return err
}

// stopIfGuestOutOfTime stops the guest when an I/O on the client failed at
// the request's deadline but the client is not to blame: the I/O had waited
// less than a quarter of the time limit, so the client was keeping up and
// the guest ran out the clock itself. It is stopped as at any other point
// past its limit (504, or a cut stream). A client that held the I/O longer
// is too slow: it gets 408 or a cut stream, and the guest goes on to return
// its instance.
func (c *call) stopIfGuestOutOfTime(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && c.clientWait*4 < c.route.maxDuration {
		c.timedOut = true
		panic(errTimeLimit)
	}
}

// bodyFailure classifies an error reading the request body: the status the
// client gets and the reason the log gives.
func bodyFailure(err error) (status int, reason string) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, "client too slow sending the request body"
	default:
		return http.StatusBadRequest, "malformed request body"
	}
}

// bodyFailed records that the request body could not be read: the host
// answers with status instead of the guest, and closes the connection after.
func (c *call) bodyFailed(err error) {
	if c.bodyStatus != 0 {
		return
	}
	c.stopIfGuestOutOfTime(err)
	status, reason := bodyFailure(err)
	c.bodyStatus = status
	c.w.closeConn = true
	attrs := []slog.Attr{slog.String("request_id", c.id), slog.String("route", c.route.Pattern)}
	if status == http.StatusRequestEntityTooLarge {
		attrs = append(attrs, slog.Int64("limit", c.route.bodyLimit))
	} else {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.h.log.LogAttrs(c, slog.LevelWarn, reason, attrs...)
}

// bodyErrors are the answers to a body that failed to arrive, by status.
var bodyErrors = map[int]string{
	http.StatusRequestEntityTooLarge: "Request body too large",
	http.StatusRequestTimeout:        "Request Timeout",
	http.StatusBadRequest:            "Malformed request body",
}

// answerBodyFailure sends the answer to a body that failed to arrive, in
// place of whatever the guest made of the part it got.
func (c *call) answerBodyFailure() {
	c.headSent = true
	c.answeredBody = true
	c.failed = true // the guest's own body must not follow
	c.w.Header().Set("Connection", "close")
	writeError(c.w, c.bodyStatus, bodyErrors[c.bodyStatus])
}

// writeFailed records that writing to the client failed. A client too slow
// to take the response is logged once; one that left is not news.
func (c *call) writeFailed(err error) {
	c.stopIfGuestOutOfTime(err)
	if !c.failed && errors.Is(err, os.ErrDeadlineExceeded) {
		c.h.log.LogAttrs(c, slog.LevelWarn, "client too slow reading the response", slog.String("request_id", c.id),
			slog.String("route", c.route.Pattern), slog.Int64("bytes", c.w.size))
	}
	c.failed = true
	c.w.aborted = true
}
