package admin

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/protocol"
)

// maxAPIBody bounds a request body: a publication and its channel name.
const maxAPIBody = 1 << 20

// Limits of what the list calls return, so that a large cluster's channel
// list stays a page, not a download.
const (
	defaultChannels = 100
	maxChannels     = 1000
	defaultHistory  = 20
	maxHistory      = 100
)

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
var internalErrorBody = []byte(`{"error":{"code":` + strconv.FormatUint(uint64(protocol.CodeInternal), 10) + `,"message":"` + protocol.ErrInternal.Message + `"}}` + "\n")

// writeResult answers 200 with a hub's result, logging a result that could
// not be encoded (500). Only the error's type is logged: its text may quote
// the value, a client's data perhaps.
func (h *handler) writeResult(w http.ResponseWriter, op string, v any) {
	if err := writeJSON(w, http.StatusOK, v); err != nil {
		h.log.Error("admin: result could not be encoded", "op", op, "err_type", fmt.Sprintf("%T", err))
	}
}

// writeError answers {"error": {"code": ..., "message": ...}}; code is the
// protocol's when the hub refused, 0 when the console did.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": 0, "message": msg}})
}

// writeHubError answers a hub error: the protocol's code and message, 400
// for what the request got wrong, 500 for what went wrong inside.
func (h *handler) writeHubError(w http.ResponseWriter, op string, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = protocol.ErrInternal
	}
	status := http.StatusBadRequest
	if pe.Code == protocol.CodeInternal {
		status = http.StatusInternalServerError
		h.log.Error("admin: hub call failed", "op", op, "err", err)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": pe.Code, "message": pe.Message}})
}

// readBody decodes a JSON body into v, or answers 400/413 and returns false.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, "malformed JSON body")
		return false
	}
	return true
}

// intParam reads a positive integer query parameter, def when absent,
// clamped to max.
func intParam(r *http.Request, name string, def, max int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return min(n, max), true
}

// apiNodes lists every live node of the cluster, this one first.
func (h *handler) apiNodes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"nodes": h.hub.Nodes()})
}

type channelEntry struct {
	Name        string `json:"name"`
	Subscribers int    `json:"subscribers"`
}

// apiChannels lists the cluster's active channels matching pattern ("*"
// for any run of characters), busiest first, at most limit of them; total
// counts them all.
func (h *handler) apiChannels(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(r, "limit", defaultChannels, maxChannels)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	counts, err := h.hub.ClusterChannels(r.Context(), r.URL.Query().Get("pattern"))
	if err != nil {
		h.writeHubError(w, "channels", err)
		return
	}
	list := make([]channelEntry, 0, len(counts))
	for name, n := range counts {
		list = append(list, channelEntry{Name: name, Subscribers: n})
	}
	slices.SortFunc(list, func(a, b channelEntry) int {
		return cmp.Or(cmp.Compare(b.Subscribers, a.Subscribers), strings.Compare(a.Name, b.Name))
	})
	total := len(list)
	writeJSON(w, http.StatusOK, map[string]any{"channels": list[:min(limit, total)], "total": total})
}

type presenceEntry struct {
	Client string          `json:"client"`
	User   string          `json:"user"`
	Info   json.RawMessage `json:"info,omitempty"`
}

// apiPresence lists a channel's connections, by user then client.
func (h *handler) apiPresence(w http.ResponseWriter, r *http.Request) {
	res, err := h.hub.Presence(r.Context(), r.URL.Query().Get("channel"))
	if err != nil {
		h.writeHubError(w, "presence", err)
		return
	}
	list := make([]presenceEntry, 0, len(res.Clients))
	for id, e := range res.Clients {
		list = append(list, presenceEntry{Client: id, User: e.User, Info: e.Info})
	}
	slices.SortFunc(list, func(a, b presenceEntry) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Client, b.Client))
	})
	h.writeResult(w, "presence", map[string]any{"clients": list})
}

// apiHistory returns a channel's latest publications, newest first.
func (h *handler) apiHistory(w http.ResponseWriter, r *http.Request) {
	limit, ok := intParam(r, "limit", defaultHistory, maxHistory)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	res, err := h.hub.History(r.Context(), r.URL.Query().Get("channel"), &limit, nil, true)
	if err != nil {
		h.writeHubError(w, "history", err)
		return
	}
	h.writeResult(w, "history", res)
}

type publishRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// apiPublish publishes JSON data to a channel as the server.
func (h *handler) apiPublish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !readBody(w, r, &req) {
		return
	}
	if len(req.Data) == 0 || string(req.Data) == "null" {
		writeError(w, http.StatusBadRequest, "data required")
		return
	}
	res, err := h.hub.Publish(r.Context(), req.Channel, req.Data, "")
	if err != nil {
		h.writeHubError(w, "publish", err)
		return
	}
	h.log.Info("admin: published", "channel", req.Channel, "bytes", len(req.Data), "remote", remoteKey(r))
	writeJSON(w, http.StatusOK, res)
}

type disconnectRequest struct {
	User string `json:"user"`
}

// apiDisconnect closes every connection of a user, on every node, with
// the protocol's "disconnected by server" close.
func (h *handler) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	var req disconnectRequest
	if !readBody(w, r, &req) {
		return
	}
	if req.User == "" {
		writeError(w, http.StatusBadRequest, "user required")
		return
	}
	if err := h.hub.DisconnectUser(r.Context(), req.User, protocol.DisconnectForbidden); err != nil {
		h.writeHubError(w, "disconnect", err)
		return
	}
	h.log.Info("admin: disconnected user", "user", req.User, "remote", remoteKey(r))
	writeJSON(w, http.StatusOK, map[string]any{})
}

type levelBody struct {
	Level string `json:"level"`
}

// apiGetLevel returns the log level, 404 when the console was given none
// to manage.
func (h *handler) apiGetLevel(w http.ResponseWriter, _ *http.Request) {
	if h.level == nil {
		writeError(w, http.StatusNotFound, "log level is not managed here")
		return
	}
	writeJSON(w, http.StatusOK, levelBody{Level: h.level.Level().String()})
}

// apiSetLevel sets the log level: DEBUG, INFO, WARN or ERROR (any case).
func (h *handler) apiSetLevel(w http.ResponseWriter, r *http.Request) {
	if h.level == nil {
		writeError(w, http.StatusNotFound, "log level is not managed here")
		return
	}
	var req levelBody
	if !readBody(w, r, &req) {
		return
	}
	var lvl slog.Level
	switch strings.ToUpper(req.Level) {
	case "DEBUG":
		lvl = slog.LevelDebug
	case "INFO":
		lvl = slog.LevelInfo
	case "WARN":
		lvl = slog.LevelWarn
	case "ERROR":
		lvl = slog.LevelError
	default:
		writeError(w, http.StatusBadRequest, "level must be DEBUG, INFO, WARN or ERROR")
		return
	}
	old := h.level.Level()
	h.level.Set(lvl)
	// Logged at WARN so that the change shows whatever the new level.
	h.log.Warn("admin: log level changed", "from", old.String(), "to", lvl.String(), "remote", remoteKey(r))
	writeJSON(w, http.StatusOK, levelBody{Level: lvl.String()})
}
