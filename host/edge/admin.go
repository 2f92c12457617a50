package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/wasmroute/wasmroute/bundle"
)

// Upload limits of the admin API.
const (
	// maxRequestBytes caps a deploy or rollback request.
	maxRequestBytes = 4 << 20
)

// Admin is the admin API of a Server: HTTP and JSON, on a listener of its
// own, for bearer tokens. A token is either an admin token, or scoped to
// the apps it may deploy, roll back and delete:
//
//	GET    /healthz, /readyz, /metrics        (no token; metrics in Prometheus's format)
//	HEAD   /v1/modules/{sha256}               200 if stored, 404 if not
//	PUT    /v1/modules/{sha256}               upload a module (its body)
//	POST   /v1/apps/{name}/deploy             {"manifest": {...}, "domains": [...]} -> {"version": ..., "steps": [...]}
//	                                          or {"ref": "registry/repo:tag", ...} -> {..., "ref": pinned}
//	POST   /v1/apps/{name}/rollback           {"version": optional} -> {"version": ...}
//	POST   /v1/apps/{name}/revalidate         {"tags": [...], "paths": [...], "expire": false}: mark cached responses stale
//	GET    /v1/apps                           the apps the token may see, their versions, domains and routes
//	DELETE /v1/apps/{name}
//	POST   /v1/tokens                         admin only: {"name": ..., "apps": [...]} -> {"token": ...}
//	GET    /v1/tokens                         admin only: the tokens' names and scopes
//	DELETE /v1/tokens/{name}                  admin only
type Admin struct {
	s   *Server
	log *slog.Logger
	mux *http.ServeMux

	mu     sync.Mutex
	tokens []token // the first is the admin token the host started with
}

// token is a token's name, scope and SHA-256; the token itself is never
// kept.
type token struct {
	Name  string   `json:"name"`
	Hash  string   `json:"hash"`
	Admin bool     `json:"admin,omitempty"`
	Apps  []string `json:"apps,omitempty"`
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// NewAdmin serves s's admin API. adminToken, kept only hashed, is the
// admin token the host starts with; tokens made through the API are kept,
// hashed, in DATA/tokens.json.
func NewAdmin(s *Server, adminToken string) *Admin {
	a := &Admin{s: s, log: s.log, mux: http.NewServeMux()}
	a.tokens = []token{{Name: "admin", Hash: hashToken(adminToken), Admin: true}}
	if b, err := os.ReadFile(a.tokensFile()); err == nil {
		var made []token
		if json.Unmarshal(b, &made) == nil {
			a.tokens = append(a.tokens, made...)
		}
	}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	a.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ready"}) })
	a.mux.Handle("GET /metrics", s.Metrics())
	a.mux.HandleFunc("HEAD /v1/modules/{sha}", a.auth("", a.headModule))
	a.mux.HandleFunc("PUT /v1/modules/{sha}", a.auth("", a.putModule))
	a.mux.HandleFunc("POST /v1/apps/{name}/deploy", a.auth("name", a.deploy))
	a.mux.HandleFunc("POST /v1/apps/{name}/rollback", a.auth("name", a.rollback))
	a.mux.HandleFunc("POST /v1/apps/{name}/revalidate", a.auth("name", a.revalidate))
	a.mux.HandleFunc("GET /v1/apps", a.auth("", a.listApps))
	a.mux.HandleFunc("DELETE /v1/apps/{name}", a.auth("name", a.delete))
	a.mux.HandleFunc("POST /v1/tokens", a.auth("admin", a.makeToken))
	a.mux.HandleFunc("GET /v1/tokens", a.auth("admin", a.listTokens))
	a.mux.HandleFunc("DELETE /v1/tokens/{name}", a.auth("admin", a.deleteToken))
	return a
}

func (a *Admin) tokensFile() string { return filepath.Join(a.s.data, "tokens.json") }

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

type tokenKey struct{}

// auth lets requests with a known token through, and logs each with the
// token's name; others get 401 and a log line without what they sent.
// scope "name" requires a token that may act on the app the path names,
// "admin" an admin token, "" any token.
func (a *Admin) auth(scope string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := hashToken(raw)
		var tok *token
		a.mu.Lock()
		for i := range a.tokens {
			if subtle.ConstantTimeCompare([]byte(got), []byte(a.tokens[i].Hash)) == 1 {
				t := a.tokens[i]
				tok = &t
			}
		}
		a.mu.Unlock()
		if !ok || tok == nil {
			a.log.Warn("admin request refused: no valid token", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		if (scope == "admin" && !tok.Admin) || (scope == "name" && !tok.may(r.PathValue("name"))) {
			a.log.Warn("admin request refused: out of the token's scope", slog.String("token", tok.Name),
				slog.String("method", r.Method), slog.String("path", r.URL.Path))
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "Forbidden: the token may not act on this"})
			return
		}
		a.log.Info("admin", slog.String("token", tok.Name), slog.String("method", r.Method), slog.String("path", r.URL.Path))
		next(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
	}
}

// may reports whether the token may act on the app.
func (t *token) may(app string) bool { return t.Admin || slices.Contains(t.Apps, app) }

func (a *Admin) listApps(w http.ResponseWriter, r *http.Request) {
	tok := r.Context().Value(tokenKey{}).(*token)
	var out []AppInfo
	for _, app := range a.s.Apps() {
		if tok.may(app.Name) {
			out = append(out, app)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) makeToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string   `json:"name"`
		Admin bool     `json:"admin"`
		Apps  []string `json:"apps"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil || !ValidName(req.Name) {
		a.fail(w, fmt.Errorf("%w: want {\"name\": a lower-case name, \"apps\": [...] or \"admin\": true}", ErrBadRequest))
		return
	}
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		a.fail(w, err)
		return
	}
	raw := "wr_" + hex.EncodeToString(secret)
	a.mu.Lock()
	for _, t := range a.tokens {
		if t.Name == req.Name {
			a.mu.Unlock()
			a.fail(w, fmt.Errorf("%w: a token named %s exists", ErrBadRequest, req.Name))
			return
		}
	}
	a.tokens = append(a.tokens, token{Name: req.Name, Hash: hashToken(raw), Admin: req.Admin, Apps: req.Apps})
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name, "token": raw})
}

func (a *Admin) listTokens(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	type info struct {
		Name  string   `json:"name"`
		Admin bool     `json:"admin,omitempty"`
		Apps  []string `json:"apps,omitempty"`
	}
	var out []info
	for _, t := range a.tokens {
		out = append(out, info{t.Name, t.Admin, t.Apps})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Admin) deleteToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a.mu.Lock()
	i := slices.IndexFunc(a.tokens, func(t token) bool { return t.Name == name })
	if i <= 0 { // the first is the host's own admin token
		a.mu.Unlock()
		a.fail(w, fmt.Errorf("%w: no token %s made through the API", ErrBadRequest, name))
		return
	}
	a.tokens = slices.Delete(a.tokens, i, i+1)
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// saveLocked writes the tokens made through the API; a.mu is held.
func (a *Admin) saveLocked() error {
	b, err := json.MarshalIndent(a.tokens[1:], "", "  ")
	if err != nil {
		return err
	}
	return bundle.WriteFileAtomic(a.tokensFile(), b)
}

func (a *Admin) headModule(w http.ResponseWriter, r *http.Request) {
	if a.s.HasModule(r.PathValue("sha")) {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

func (a *Admin) putModule(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > bundle.MaxModuleBytes {
		a.fail(w, &http.MaxBytesError{Limit: bundle.MaxModuleBytes})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bundle.MaxModuleBytes))
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: the upload ended after %d of its %d bytes", ErrBadRequest, len(body), r.ContentLength)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	if err := a.s.AddModule(r.PathValue("sha"), body); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Admin) deploy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Manifest json.RawMessage `json:"manifest"`
		Ref      string          `json:"ref"`
		Domains  []string        `json:"domains"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		a.fail(w, errors.Join(ErrBadRequest, err))
		return
	}
	if (req.Ref == "") == (req.Manifest == nil) {
		a.fail(w, fmt.Errorf("%w: give either \"manifest\" or \"ref\"", ErrBadRequest))
		return
	}
	// A client that accepts NDJSON gets each step as it starts, then the
	// result (or {"error", "status"}) as the last line.
	var begin func(string)
	var enc *json.Encoder
	if r.Header.Get("Accept") == ndjson {
		w.Header().Set("Content-Type", ndjson)
		w.WriteHeader(http.StatusOK)
		enc = json.NewEncoder(w)
		flusher := http.NewResponseController(w)
		begin = func(step string) {
			_ = enc.Encode(map[string]string{"step": step})
			_ = flusher.Flush()
		}
	}
	var d Deployment
	var err error
	if req.Ref != "" {
		d, err = a.s.deployRef(r.Context(), r.PathValue("name"), req.Ref, req.Domains, begin)
	} else {
		d, err = a.s.deploy(r.Context(), r.PathValue("name"), req.Manifest, req.Domains, begin)
	}
	switch {
	case enc != nil && err != nil:
		status, msg := a.classify(err)
		_ = enc.Encode(map[string]any{"error": msg, "status": status})
	case enc != nil:
		_ = enc.Encode(d)
	case err != nil:
		a.fail(w, err)
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

// ndjson is the media type of a deploy that reports its steps as it goes.
const ndjson = "application/x-ndjson"

func (a *Admin) rollback(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version string `json:"version"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
			a.fail(w, errors.Join(ErrBadRequest, err))
			return
		}
	}
	version, err := a.s.Rollback(r.Context(), r.PathValue("name"), req.Version)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": version})
}

func (a *Admin) revalidate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tags   []string `json:"tags"`
		Paths  []string `json:"paths"`
		Expire bool     `json:"expire"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		a.fail(w, errors.Join(ErrBadRequest, err))
		return
	}
	if err := a.s.Revalidate(r.Context(), r.PathValue("name"), req.Tags, req.Paths, req.Expire); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Admin) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.s.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers an error with its status and reason (classify).
func (a *Admin) fail(w http.ResponseWriter, err error) {
	status, msg := a.classify(err)
	writeJSON(w, status, map[string]string{"error": msg})
}

// classify returns an error's status and the reason to give: 413 for a
// body over its limit, 400 for the client's mistakes, 502 for a registry's,
// 500 for the host's. It logs the failure.
func (a *Admin) classify(err error) (int, string) {
	status := http.StatusInternalServerError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, ErrRegistry):
		status = http.StatusBadGateway
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": "), ErrRegistry.Error()+": ")
	if tooLarge != nil {
		msg = fmt.Sprintf("the upload is over the limit of %d bytes", tooLarge.Limit)
	}
	a.log.Warn("admin request failed", slog.Int("status", status), slog.String("error", msg))
	return status, msg
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
