package host

import (
	"log/slog"
	"net/http"
)

// checkLimits is the first stage: the app's limits on the request target
// and the header fields, checked before routing. It answers 414 or 431 and
// returns false when the request breaks one.
func (h *Host) checkLimits(rec *recorder, r *http.Request, s *generation, id string) bool {
	if len(r.RequestURI) > s.maxURLLength {
		h.log.Warn("URL too long", slog.String("request_id", id), slog.Int("length", len(r.RequestURI)), slog.Int("limit", s.maxURLLength))
		writeError(rec, http.StatusRequestURITooLong, "URI Too Long")
		return false
	}
	if n := headerBytes(r.Header); n > s.maxHeaderBytes {
		h.log.Warn("request headers too large", slog.String("request_id", id), slog.Int("bytes", n), slog.Int("limit", s.maxHeaderBytes))
		rec.Header().Set("Connection", "close")
		rec.closeConn = true
		writeError(rec, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
		return false
	}
	return true
}

// headerBytes is the size of the header fields as sent: "Name: value\r\n".
func headerBytes(h http.Header) int {
	n := 0
	for name, values := range h {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	return n
}
