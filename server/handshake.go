package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/heraldhq/herald/protocol"
)

// checkHandshake validates a WebSocket upgrade request against RFC 6455
// §4.2.1 before the WebSocket library sees it, because the library accepts
// some requests the RFC says to reject. It writes the HTTP error and reports
// false when the request is refused.
func checkHandshake(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "websocket: method not allowed", http.StatusMethodNotAllowed)
		return false
	case !r.ProtoAtLeast(1, 1):
		http.Error(w, "websocket: HTTP/1.1 or later required", http.StatusBadRequest)
		return false
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "websocket: upgrade required", http.StatusUpgradeRequired)
		return false
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "websocket: unsupported version", http.StatusUpgradeRequired)
		return false
	}
	key, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key"))
	if err != nil || len(key) != 16 {
		http.Error(w, "websocket: invalid Sec-WebSocket-Key", http.StatusBadRequest)
		return false
	}
	return true
}

// headerHasToken reports whether a comma-separated header contains token,
// case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// negotiateEncoding picks the first subprotocol the client offered that
// Herald speaks, and its encoding. A client that offers none of them gets no
// subprotocol and JSON, as the protocol says.
func negotiateEncoding(r *http.Request) (subprotocol string, enc protocol.Encoding) {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for part := range strings.SplitSeq(v, ",") {
			switch p := strings.TrimSpace(part); p {
			case protocol.SubprotocolJSON:
				return p, protocol.JSON
			case protocol.SubprotocolProtobuf:
				return p, protocol.Protobuf
			}
		}
	}
	return "", protocol.JSON
}

// originAllowed applies the origin policy: no Origin header (not a browser)
// passes; "*" in allowed passes everything; an entry may be an exact origin
// ("https://app.example.com") or have a leading wildcard host label
// ("https://*.example.com"); with no entries, only the same origin passes.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(allowed) == 0 {
		return strings.EqualFold(u.Host, r.Host)
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		scheme, host, ok := strings.Cut(a, "://*.")
		if ok && strings.EqualFold(scheme, u.Scheme) && len(u.Host) > len(host)+1 &&
			strings.HasSuffix(strings.ToLower(u.Host), "."+strings.ToLower(host)) {
			return true
		}
	}
	return false
}
