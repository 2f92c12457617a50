// Package route is /api/users/[id]: read, update and delete one stored user.
package route

import (
	"encoding/json"
	"errors"
	"net/http"

	"example.com/api/lib/users"
	"github.com/wasmroute/wasmroute/guest"
)

// load answers 404 or 500 itself when the user cannot be read.
func load(w http.ResponseWriter, r *http.Request) (users.User, bool) {
	if err := users.Seed(); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return users.User{}, false
	}
	u, err := users.Get(r.PathValue("id"))
	switch {
	case errors.Is(err, users.ErrNotFound):
		guest.Error(w, http.StatusNotFound, "User not found")
		return u, false
	case err != nil:
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return u, false
	}
	return u, true
}

// GET returns the user.
func GET(w http.ResponseWriter, r *http.Request) {
	if u, ok := load(w, r); ok {
		guest.JSON(w, http.StatusOK, users.Response{Data: u})
	}
}

// PUT merges the JSON body's name and email into the stored user.
func PUT(w http.ResponseWriter, r *http.Request) {
	u, ok := load(w, r)
	if !ok {
		return
	}
	var in struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		guest.Error(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if in.Name != nil {
		u.Name = *in.Name
	}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if err := users.Save(u); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	guest.JSON(w, http.StatusOK, users.Response{Data: u})
}

// PATCH updates part of the user, like PUT.
var PATCH = PUT

// DELETE removes the user: 204 with no body.
func DELETE(w http.ResponseWriter, r *http.Request) {
	if _, ok := load(w, r); !ok {
		return
	}
	if err := users.Delete(r.PathValue("id")); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
