package host

import (
	"log/slog"
	"net/http"
)

// checkBody is the stage before invoke: a body declared larger than the
// route's limit gets 413 and closes the connection; any other body is cut
// off at the limit as the guest streams it. It returns false when it
// answered.
func (h *Host) checkBody(rec *recorder, w http.ResponseWriter, r *http.Request, rt *route, id string) bool {
	if r.ContentLength > rt.bodyLimit {
		h.log.Warn("request body too large", slog.String("request_id", id), slog.String("route", rt.Pattern),
			slog.Int64("content_length", r.ContentLength), slog.Int64("limit", rt.bodyLimit))
		rec.Header().Set("Connection", "close")
		rec.closeConn = true
		writeError(rec, http.StatusRequestEntityTooLarge, "Request body too large")
		return false
	}
	if r.ContentLength != 0 {
		// A body without a length, or one that lies about it, is cut off at
		// the limit while the guest streams it.
		r.Body = http.MaxBytesReader(w, r.Body, rt.bodyLimit)
		// Guests stream: a handler may answer before it has read the whole
		// body (an upload progress stream, an echo). Without full duplex,
		// net/http would first try to swallow the unread body.
		// ServeHTTP closes the body before it returns (see there).
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	return true
}
