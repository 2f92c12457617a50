// Package users is the example's user store, kept in the app's key-value
// store. It starts with 50 users, {"id":"1","name":"User 1",...}.
package users

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/wasmroute/wasmroute/guest/kv"
)

// User is one user record.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Response is the {"data": user} envelope the routes answer with. A typed
// struct encodes several times faster than map[string]any, and in
// WebAssembly every microsecond of reflection costs about twenty.
type Response struct {
	Data User `json:"data"`
}

// SeedCount is the number of users a new store starts with.
const SeedCount = 50

// ErrNotFound means no user has the id.
var ErrNotFound = errors.New("user not found")

const (
	prefix    = "user:"
	seededKey = "users:seeded"
)

// key is the store key of id: zero-padded to 20 digits (the most a uint64
// has), so that keys sort as numbers. strconv rather than fmt: every route
// call builds a key, and fmt's reflection is slow in WebAssembly.
func key(id uint64) string {
	var digits [20]byte
	n := strconv.AppendUint(digits[:0], id, 10)
	b := make([]byte, 0, len(prefix)+len(digits))
	b = append(b, prefix...)
	for range len(digits) - len(n) {
		b = append(b, '0')
	}
	return string(append(b, n...))
}

// parseID accepts canonical positive decimal ids only ("42", not "042").
func parseID(id string) (uint64, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatUint(n, 10) == id
}

// Seed stores the first users once per store.
func Seed() error {
	if ok, err := kv.Exists(seededKey); err != nil || ok {
		return err
	}
	for i := uint64(1); i <= SeedCount; i++ {
		s := strconv.FormatUint(i, 10)
		if err := put(i, User{ID: s, Name: "User " + s, Email: "user" + s + "@example.com"}); err != nil {
			return err
		}
	}
	return kv.Set(seededKey, []byte("1"))
}

func put(id uint64, u User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return kv.Set(key(id), b)
}

// Get returns the user with the given id.
func Get(id string) (User, error) {
	n, ok := parseID(id)
	if !ok {
		return User{}, ErrNotFound
	}
	b, err := kv.Get(key(n))
	if errors.Is(err, kv.ErrNotFound) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	var u User
	return u, json.Unmarshal(b, &u)
}

// Save stores u under its id.
func Save(u User) error {
	n, ok := parseID(u.ID)
	if !ok {
		return ErrNotFound
	}
	return put(n, u)
}

// Create stores a new user and returns it with its id: the time in
// nanoseconds, so ids grow and never collide in practice.
func Create(name, email string) (User, error) {
	id := uint64(time.Now().UnixNano())
	for {
		exists, err := kv.Exists(key(id))
		if err != nil {
			return User{}, err
		}
		if !exists {
			break
		}
		id++
	}
	u := User{ID: strconv.FormatUint(id, 10), Name: name, Email: email}
	return u, put(id, u)
}

// Delete removes the user with the given id.
func Delete(id string) error {
	if _, err := Get(id); err != nil {
		return err
	}
	n, _ := parseID(id)
	return kv.Delete(key(n))
}

// List returns page (from 1) of the users, limit per page, in id order.
func List(page, limit int) ([]User, error) {
	keys, err := kv.Keys(prefix)
	if err != nil {
		return nil, err
	}
	start := min((page-1)*limit, len(keys))
	end := min(start+limit, len(keys))
	out := make([]User, 0, end-start)
	for _, k := range keys[start:end] {
		b, err := kv.Get(k)
		if errors.Is(err, kv.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		var u User
		if err := json.Unmarshal(b, &u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
