// Package route is /api/session: cookies with net/http.
package route

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/wasmroute/wasmroute/guest"
)

type session struct {
	Session string `json:"session"`
}

// POST starts a session: an HttpOnly, Secure, SameSite=Lax cookie for an
// hour, and a second, readable cookie for the UI theme.
func POST(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: "session", Value: id, Path: "/", MaxAge: 3600,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/"})
	guest.JSON(w, http.StatusCreated, session{id})
}

// GET returns the session the cookie names.
func GET(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("session")
	if err != nil || c.Value == "" {
		guest.Error(w, http.StatusUnauthorized, "No session")
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("X-Session-Source", "cookie")
	guest.JSON(w, http.StatusOK, session{c.Value})
}

// DELETE ends the session by expiring the cookie.
func DELETE(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: "session", Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}
