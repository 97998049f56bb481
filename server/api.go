package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/heraldhq/herald/hub"
	"github.com/heraldhq/herald/protocol"
)

// keyring checks API keys in constant time. Keys are stored as SHA-256
// digests so that every comparison has the same length and the plain keys
// never sit in the server's memory longer than startup.
type keyring struct {
	digests [][sha256.Size]byte
}

func newKeyring(keys []string) *keyring {
	k := &keyring{}
	for _, key := range keys {
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k
}

// valid reports whether key is one of the keys, comparing against all of them
// so the time taken does not tell which matched.
func (k *keyring) valid(key string) bool {
	d := sha256.Sum256([]byte(key))
	ok := 0
	for i := range k.digests {
		ok |= subtle.ConstantTimeCompare(d[:], k.digests[i][:])
	}
	return ok == 1 && key != ""
}

// apiHandler serves POST /api/{method}.
type apiHandler struct {
	hub         *hub.Hub
	keys        *keyring
	bodyLimit   int64
	allowedNets []netip.Prefix
	log         *slog.Logger
}

// apiRequest is the union of every API method's body.
type apiRequest struct {
	Channel        string                   `json:"channel"`
	Channels       []string                 `json:"channels"`
	Data           json.RawMessage          `json:"data"`
	B64Data        *string                  `json:"b64data"`
	IdempotencyKey string                   `json:"idempotency_key"`
	User           string                   `json:"user"`
	Code           *int                     `json:"code"`
	Reason         string                   `json:"reason"`
	Limit          *int                     `json:"limit"`
	Since          *protocol.StreamPosition `json:"since"`
	Reverse        bool                     `json:"reverse"`
	Pattern        string                   `json:"pattern"`
}

type apiMethod func(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error)

var apiMethods = map[string]apiMethod{
	"publish":        apiPublish,
	"broadcast":      apiBroadcast,
	"send":           apiSend,
	"subscribe":      apiSubscribe,
	"unsubscribe":    apiUnsubscribe,
	"disconnect":     apiDisconnect,
	"presence":       apiPresence,
	"presence_stats": apiPresenceStats,
	"history":        apiHistory,
	"history_remove": apiHistoryRemove,
	"channels":       apiChannels,
	"info":           apiInfo,
}

// The server API answers every failure with one shape,
// {"error":{"code":C,"message":"..."}}, C a protocol error code: a method
// that failed with 200 (the protocol's rule), and a request refused before
// any method ran with its HTTP status and the code nearest in meaning
// (docs/API.md has the table). So a backend parses one kind of answer,
// whichever check stopped it.

// apiError is the body of every error answer of the server API.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    protocol.ErrorCode `json:"code"`
	Message string             `json:"message"`
}

func newAPIError(pe *protocol.Error) apiError {
	return apiError{apiErrorDetail{Code: pe.Code, Message: pe.Message}}
}

// writeAPIError answers an API request with status and the API's error
// shape.
func writeAPIError(w http.ResponseWriter, status int, code protocol.ErrorCode, msg string) {
	_ = writeJSON(w, status, newAPIError(protocol.NewError(code, msg)))
}

func (a *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !apiAllowed(r, a.allowedNets) {
		writeAPIError(w, http.StatusForbidden, protocol.CodePermissionDenied, "address not allowed")
		return
	}
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "apikey") || !a.keys.valid(strings.TrimSpace(key)) {
		writeAPIError(w, http.StatusUnauthorized, protocol.CodeUnauthorized, "invalid API key")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeAPIError(w, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "method not allowed: use POST")
		return
	}
	// Paths under /api/ that name no method ("/api/", "/api/a/b") come
	// here too, with no name.
	name := r.PathValue("method")
	method, ok := apiMethods[name]
	if !ok {
		writeAPIError(w, http.StatusNotFound, protocol.CodeUnknownCommand, "unknown method")
		return
	}
	var req apiRequest
	if status, pe := a.decode(w, r, &req); pe != nil {
		writeAPIError(w, status, pe.Code, pe.Message)
		return
	}
	result, err := method(r.Context(), a.hub, &req)
	if err != nil {
		pe := toAPIError(err)
		if pe.Code == protocol.CodeInternal {
			a.log.Error("api call failed", "method", name, "err", err)
		}
		_ = writeJSON(w, http.StatusOK, newAPIError(pe))
		return
	}
	if err := writeJSON(w, http.StatusOK, map[string]any{"result": result}); err != nil {
		// The error's text may quote the value, a client's data perhaps:
		// only its type is logged.
		a.log.Error("api result could not be encoded", "method", name, "err_type", fmt.Sprintf("%T", err))
	}
}

// decode reads the request's body into req. A failure comes back with the
// status to answer: 413 past APIBodySize, 408 when the body did not arrive
// within RequestBodyTimeout (body.go), 400 for anything that is not a JSON
// object of the right field types. An empty body is a valid call for
// methods without fields (info).
func (a *apiHandler) decode(w http.ResponseWriter, r *http.Request, req *apiRequest) (int, *protocol.Error) {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.bodyLimit)).Decode(req)
	var (
		tooBig   *http.MaxBytesError
		syntax   *json.SyntaxError
		wrongTyp *json.UnmarshalTypeError
	)
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return 0, nil
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, protocol.NewError(protocol.CodeLimitExceeded,
			fmt.Sprintf("request body larger than %d bytes", a.bodyLimit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout, protocol.NewError(protocol.CodeBadRequest, "request body not received in time")
	case errors.As(err, &wrongTyp):
		// Not the decoder's own words, which name Go types.
		field := wrongTyp.Field
		if field == "" {
			return http.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest, "malformed JSON: the body must be an object")
		}
		return http.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest,
			fmt.Sprintf("malformed JSON: field %s has the wrong type (%s)", field, wrongTyp.Value))
	case errors.As(err, &syntax):
		return http.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest, "malformed JSON: "+err.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest, "malformed JSON: the body ends mid-value")
	}
	// Some other failure of the connection while the body was read: the
	// client is most likely gone, and the error's text is the server's
	// business.
	return http.StatusBadRequest, protocol.NewError(protocol.CodeBadRequest, "request body could not be read")
}

func toAPIError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.ErrInternal
}

// writeJSON answers with v as JSON and status. v is encoded whole before
// the status line goes out, so a value that cannot be encoded is answered
// 500 with an error body, never status with an empty or truncated one; the
// encoding error is returned for the caller to log.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, internalErrorBody
	} else {
		body = append(body, '\n')
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return err
}

// internalErrorBody is the answer to a result that could not be encoded.
var internalErrorBody = []byte(`{"error":{"code":` + fmt.Sprint(uint32(protocol.CodeInternal)) + `,"message":"` + protocol.ErrInternal.Message + `"}}` + "\n")

func badRequest(msg string) error { return protocol.NewError(protocol.CodeBadRequest, msg) }

// payload returns the bytes to publish: data as raw JSON, or b64data decoded.
func (req *apiRequest) payload() ([]byte, error) {
	hasData := len(req.Data) > 0 && string(req.Data) != "null"
	switch {
	case hasData && req.B64Data != nil:
		return nil, badRequest("data and b64data are exclusive")
	case hasData:
		return req.Data, nil
	case req.B64Data != nil:
		b, err := base64.StdEncoding.DecodeString(*req.B64Data)
		if err != nil || len(b) == 0 {
			return nil, badRequest("b64data is not valid base64")
		}
		return b, nil
	}
	return nil, badRequest("data or b64data required")
}

func apiPublish(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	data, err := req.payload()
	if err != nil {
		return nil, err
	}
	return h.Publish(ctx, req.Channel, data, req.IdempotencyKey)
}

func apiBroadcast(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	if len(req.Channels) == 0 {
		return nil, badRequest("channels required")
	}
	data, err := req.payload()
	if err != nil {
		return nil, err
	}
	results := make([]any, len(req.Channels))
	for i, ch := range req.Channels {
		res, err := h.Publish(ctx, ch, data, "")
		if err != nil {
			results[i] = newAPIError(toAPIError(err))
			continue
		}
		results[i] = res
	}
	return map[string]any{"results": results}, nil
}

func apiSend(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	data, err := req.payload()
	if err != nil {
		return nil, err
	}
	return h.Send(ctx, req.User, data)
}

func apiSubscribe(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	if req.User == "" {
		return nil, badRequest("user required")
	}
	return protocol.EmptyResult{}, h.SubscribeUser(ctx, req.User, req.Channel)
}

func apiUnsubscribe(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	if req.User == "" {
		return nil, badRequest("user required")
	}
	return protocol.EmptyResult{}, h.UnsubscribeUser(ctx, req.User, req.Channel)
}

func apiDisconnect(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	if req.User == "" {
		return nil, badRequest("user required")
	}
	code := protocol.CloseForbidden
	if req.Code != nil {
		if *req.Code < 3000 || *req.Code > 4999 {
			return nil, badRequest("code must be in 3000..4999")
		}
		code = protocol.CloseCode(*req.Code)
	}
	reason := req.Reason
	if reason == "" {
		reason = protocol.DisconnectForbidden.Reason
	}
	if len(reason) > 120 {
		return nil, badRequest("reason longer than 120 bytes")
	}
	return protocol.EmptyResult{}, h.DisconnectUser(ctx, req.User, protocol.NewDisconnect(code, reason))
}

func apiPresence(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	return h.Presence(ctx, req.Channel)
}

func apiPresenceStats(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	return h.PresenceStats(ctx, req.Channel)
}

func apiHistory(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	return h.History(ctx, req.Channel, req.Limit, req.Since, req.Reverse)
}

func apiHistoryRemove(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	return protocol.EmptyResult{}, h.RemoveHistory(ctx, req.Channel)
}

func apiChannels(ctx context.Context, h *hub.Hub, req *apiRequest) (any, error) {
	type channelInfo struct {
		Clients int `json:"clients"`
	}
	counts, err := h.ClusterChannels(ctx, req.Pattern)
	if err != nil {
		return nil, err
	}
	out := make(map[string]channelInfo, len(counts))
	for ch, n := range counts {
		out[ch] = channelInfo{Clients: n}
	}
	return map[string]any{"channels": out}, nil
}

func apiInfo(_ context.Context, h *hub.Hub, _ *apiRequest) (any, error) {
	return map[string]any{"nodes": h.Nodes()}, nil
}
