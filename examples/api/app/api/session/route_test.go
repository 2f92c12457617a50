package route

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Route handlers are plain net/http, so they test natively with httptest,
// no WebAssembly involved: `go test ./app/api/session`.
func TestSessionRoundTrip(t *testing.T) {
	w := httptest.NewRecorder()
	POST(w, httptest.NewRequest("POST", "/api/session", nil))
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 2 || cookies[0].Name != "session" || !cookies[0].HttpOnly {
		t.Fatalf("cookies = %v", cookies)
	}

	req := httptest.NewRequest("GET", "/api/session", nil)
	req.AddCookie(cookies[0])
	w = httptest.NewRecorder()
	GET(w, req)
	if want := `{"session":"` + cookies[0].Value + `"}`; w.Code != 200 || w.Body.String() != want {
		t.Fatalf("GET: %d %s, want %s", w.Code, w.Body, want)
	}

	w = httptest.NewRecorder()
	GET(w, httptest.NewRequest("GET", "/api/session", nil))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("GET without cookie: %d", w.Code)
	}
}
