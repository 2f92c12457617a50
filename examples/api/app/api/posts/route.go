// Package route is /api/posts: the posts, cached for 10 seconds and tagged
// "posts" (Next.js's ISR), and a POST that adds one and revalidates the tag.
package route

import (
	"encoding/json"
	"errors"
	"net/http"

	"example.com/api/lib/posts"
	"github.com/wasmroute/wasmroute/guest"
)

// Revalidate caches GET /api/posts for 10 seconds; after that the next
// request gets the cached list while the host regenerates it.
const Revalidate = 10

// GET lists the newest posts: {"data": [...]}.
func GET(w http.ResponseWriter, r *http.Request) {
	list, err := posts.List()
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	guest.CacheTag(w, "posts")
	guest.JSON(w, http.StatusOK, struct {
		Data []posts.Post `json:"data"`
	}{list})
}

// POST stores a post from {"title": ..., "body": ...} and answers 201 with
// {"data": post}. The cached list is revalidated: the next GET gets it
// while the host regenerates it with the new post.
func POST(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		guest.Error(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	p, err := posts.Create(in.Title, in.Body)
	if errors.Is(err, posts.ErrInvalid) {
		guest.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "store unavailable")
		return
	}
	if err := guest.RevalidateTag("posts"); err != nil {
		guest.Error(w, http.StatusInternalServerError, "cache unavailable")
		return
	}
	guest.JSON(w, http.StatusCreated, struct {
		Data posts.Post `json:"data"`
	}{p})
}
