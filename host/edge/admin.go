package edge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Upload limits of the admin API.
const (
	// MaxModuleBytes caps one uploaded module.
	MaxModuleBytes = 256 << 20
	// maxRequestBytes caps a deploy or rollback request.
	maxRequestBytes = 4 << 20
)

// Admin is the admin API of a Server: HTTP and JSON, on a listener of its
// own, for a bearer token:
//
//	GET    /healthz, /readyz, /metrics        (no token; metrics in Prometheus's format)
//	HEAD   /v1/modules/{sha256}               200 if stored, 404 if not
//	PUT    /v1/modules/{sha256}               upload a module (its body)
//	POST   /v1/apps/{name}/deploy             {"manifest": {...}, "domains": [...]} -> {"version": ...}
//	POST   /v1/apps/{name}/rollback           {"version": optional} -> {"version": ...}
//	GET    /v1/apps                           the apps, their versions, domains and routes
//	DELETE /v1/apps/{name}
type Admin struct {
	s         *Server
	tokenHash [32]byte
	log       *slog.Logger
	mux       *http.ServeMux
}

// NewAdmin serves s's admin API for token, which it keeps only hashed.
func NewAdmin(s *Server, token string) *Admin {
	a := &Admin{s: s, tokenHash: sha256.Sum256([]byte(token)), log: s.log, mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	a.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ready"}) })
	a.mux.Handle("GET /metrics", s.Metrics())
	a.mux.HandleFunc("HEAD /v1/modules/{sha}", a.auth(a.headModule))
	a.mux.HandleFunc("PUT /v1/modules/{sha}", a.auth(a.putModule))
	a.mux.HandleFunc("POST /v1/apps/{name}/deploy", a.auth(a.deploy))
	a.mux.HandleFunc("POST /v1/apps/{name}/rollback", a.auth(a.rollback))
	a.mux.HandleFunc("GET /v1/apps", a.auth(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, a.s.Apps()) }))
	a.mux.HandleFunc("DELETE /v1/apps/{name}", a.auth(a.delete))
	return a
}

// ServeHTTP implements http.Handler.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// auth lets requests with the token through; others get 401 and a log
// line without what they sent.
func (a *Admin) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token))
		if !ok || subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) != 1 {
			a.log.Warn("admin request refused: no valid token", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("remote", r.RemoteAddr))
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
			return
		}
		a.log.Info("admin", slog.String("method", r.Method), slog.String("path", r.URL.Path))
		next(w, r)
	}
}

func (a *Admin) headModule(w http.ResponseWriter, r *http.Request) {
	if a.s.HasModule(r.PathValue("sha")) {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

func (a *Admin) putModule(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxModuleBytes))
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
		Domains  []string        `json:"domains"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes)).Decode(&req); err != nil {
		a.fail(w, errors.Join(ErrBadRequest, err))
		return
	}
	version, err := a.s.Deploy(r.Context(), r.PathValue("name"), req.Manifest, req.Domains)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"version": version})
}

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

func (a *Admin) delete(w http.ResponseWriter, r *http.Request) {
	if err := a.s.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers an error: 413 for a body over its limit, 400 for the
// client's mistakes, 500 for the host's, with the reason.
func (a *Admin) fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBadRequest):
		status = http.StatusBadRequest
	}
	msg := strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": ")
	a.log.Warn("admin request failed", slog.Int("status", status), slog.String("error", msg))
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
