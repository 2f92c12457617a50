// Package route is /api/users: list the stored users a page at a time,
// create one.
package route

import (
	"encoding/json"
	"net/http"
	"strconv"

	"example.com/api/lib/users"
	"github.com/wasmroute/wasmroute/guest"
)

// GET lists users: ?page=1&limit=10 by default.
func GET(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, err1 := intParam(q.Get("page"), 1)
	limit, err2 := intParam(q.Get("limit"), 10)
	if err1 != nil || err2 != nil || page < 1 || limit < 1 || limit > 100 {
		guest.Error(w, http.StatusBadRequest, "page must be >= 1 and limit between 1 and 100")
		return
	}
	if err := users.Seed(); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	list, err := users.List(page, limit)
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	guest.JSON(w, http.StatusOK, struct {
		Data  []users.User `json:"data"`
		Page  int          `json:"page"`
		Limit int          `json:"limit"`
	}{list, page, limit})
}

// POST creates a user from {"name": ..., "email": ...}.
func POST(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		guest.Error(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	if in.Name == "" || in.Email == "" {
		guest.Error(w, http.StatusBadRequest, "name and email are required")
		return
	}
	if err := users.Seed(); err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	u, err := users.Create(in.Name, in.Email)
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	guest.JSON(w, http.StatusCreated, users.Response{Data: u})
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}
