// Package users is the example's user store: a fixed list of 50 users.
package users

import "strconv"

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

// Count is the number of users in the fixed list.
const Count = 50

// All returns the fixed list of users 1..50.
func All() []User {
	out := make([]User, Count)
	for i := range out {
		out[i] = ByNumber(i + 1)
	}
	return out
}

// ByNumber returns user n, 1 <= n <= Count.
func ByNumber(n int) User {
	s := strconv.Itoa(n)
	return User{ID: s, Name: "User " + s, Email: "user" + s + "@example.com"}
}

// Lookup returns the user with the given id, or false.
func Lookup(id string) (User, bool) {
	n, err := strconv.Atoi(id)
	if err != nil || n < 1 || n > Count || strconv.Itoa(n) != id {
		return User{}, false
	}
	return ByNumber(n), true
}
