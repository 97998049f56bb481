package demo

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/heraldhq/herald/auth"
)

// maxTokenRequest bounds the token request body; a name is 32 bytes.
const maxTokenRequest = 1 << 10

// tokenRequest is the body of POST /demo/token.
type tokenRequest struct {
	Name string `json:"name"`
}

// tokenResponse is what the page connects with.
type tokenResponse struct {
	Token     string `json:"token"`
	User      string `json:"user"`
	Expires   int64  `json:"expires"`
	Namespace string `json:"namespace"`
}

// token signs a connection token for the requested name. It insists on a
// JSON content type so that another site cannot post to it from a plain
// form: a cross-origin fetch with that type needs a preflight, which this
// handler never approves.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return
	}
	var req tokenRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request too large")
			return
		}
		writeError(w, http.StatusBadRequest, "body must be {\"name\": \"...\"}")
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "body must be one JSON object")
		return
	}
	if !validName(req.Name) {
		writeError(w, http.StatusBadRequest, "name must be 1-32 letters, digits, '_', '-' or '.'")
		return
	}
	now := h.opts.Now()
	exp := now.Add(h.opts.TokenTTL).Unix()
	tok, err := auth.SignHMAC(h.opts.TokenSecret, map[string]any{
		"sub": req.Name,
		"iat": now.Unix(),
		"exp": exp,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot sign a token")
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: tok, User: req.Name, Expires: exp, Namespace: h.opts.Namespace})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// validName reports whether name is a safe user id: 1-32 of [A-Za-z0-9_.-].
// The set keeps names printable in any UI, free of channel syntax (':',
// '#', ',') and identical in every normalisation.
func validName(name string) bool {
	return len(name) >= 1 && len(name) <= 32 && safeChars(name)
}

// validNamespace reports whether ns can prefix a channel name.
func validNamespace(ns string) bool {
	return len(ns) >= 1 && len(ns) <= 64 && safeChars(ns)
}

func safeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
