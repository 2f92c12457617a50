// Package route is /api/users/[id]: read, update and delete one user.
package route

import (
	"encoding/json"
	"net/http"

	"example.com/api/lib/users"
	"github.com/wasmroute/wasmroute/guest"
)

// GET returns the user.
func GET(w http.ResponseWriter, r *http.Request) {
	u, ok := users.Lookup(r.PathValue("id"))
	if !ok {
		guest.Error(w, http.StatusNotFound, "User not found")
		return
	}
	guest.JSON(w, http.StatusOK, users.Response{Data: u})
}

// PUT merges the JSON body's name and email into the user.
func PUT(w http.ResponseWriter, r *http.Request) {
	u, ok := users.Lookup(r.PathValue("id"))
	if !ok {
		guest.Error(w, http.StatusNotFound, "User not found")
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
	guest.JSON(w, http.StatusOK, users.Response{Data: u})
}

// DELETE removes the user: 204 with no body.
func DELETE(w http.ResponseWriter, r *http.Request) {
	if _, ok := users.Lookup(r.PathValue("id")); !ok {
		guest.Error(w, http.StatusNotFound, "User not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
