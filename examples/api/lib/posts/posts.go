// Package posts is the example's post store, kept in the app's key-value
// store, newest last.
package posts

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasmroute/wasmroute/guest/kv"
)

// Post is one post.
type Post struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Body    string    `json:"body"`
	Created time.Time `json:"created"`
}

// Limits of a post.
const (
	MaxTitle = 200    // characters
	MaxBody  = 10_000 // characters
	// MaxList is how many posts List returns, the newest.
	MaxList = 50
)

// ErrInvalid means a post's title or body is missing or too long.
var ErrInvalid = errors.New("title (1 to 200 characters) and body (1 to 10000) are required")

const (
	prefix  = "post:"
	nextKey = "posts:next"
)

// key is the store key of post n, zero-padded so keys sort as numbers.
func key(n int64) string {
	s := strconv.FormatInt(n, 10)
	return prefix + strings.Repeat("0", 20-len(s)) + s
}

// Create stores a new post and returns it with its id.
func Create(title, body string) (Post, error) {
	title, body = strings.TrimSpace(title), strings.TrimSpace(body)
	if t, b := utf8.RuneCountInString(title), utf8.RuneCountInString(body); t == 0 || t > MaxTitle || b == 0 || b > MaxBody {
		return Post{}, ErrInvalid
	}
	n, err := kv.Incr(nextKey, 1)
	if err != nil {
		return Post{}, err
	}
	p := Post{ID: strconv.FormatInt(n, 10), Title: title, Body: body, Created: time.Now().UTC().Truncate(time.Second)}
	b, err := json.Marshal(p)
	if err != nil {
		return Post{}, err
	}
	return p, kv.Set(key(n), b)
}

// List returns the newest MaxList posts, newest first.
func List() ([]Post, error) {
	keys, err := kv.Keys(prefix)
	if err != nil {
		return nil, err
	}
	if len(keys) > MaxList {
		keys = keys[len(keys)-MaxList:]
	}
	out := make([]Post, 0, len(keys))
	for i := len(keys) - 1; i >= 0; i-- {
		b, err := kv.Get(keys[i])
		if errors.Is(err, kv.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var p Post
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
