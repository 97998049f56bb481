package protocol

import "fmt"

// ErrorCode is a code carried in an error reply.
type ErrorCode uint32

// Error codes from the protocol's table. Only ErrInternal and
// ErrTooManyRequests are temporary: retrying the same command may succeed.
const (
	CodeInternal              ErrorCode = 100
	CodeUnauthorized          ErrorCode = 101
	CodeUnknownNamespace      ErrorCode = 102
	CodePermissionDenied      ErrorCode = 103
	CodeUnknownCommand        ErrorCode = 104
	CodeAlreadySubscribed     ErrorCode = 105
	CodeLimitExceeded         ErrorCode = 106
	CodeBadRequest            ErrorCode = 107
	CodeNotAvailable          ErrorCode = 108
	CodeTokenExpired          ErrorCode = 109
	CodeTooManyRequests       ErrorCode = 110
	CodeUnrecoverablePosition ErrorCode = 111
)

var errorMessages = map[ErrorCode]string{
	CodeInternal:              "internal error",
	CodeUnauthorized:          "unauthorized",
	CodeUnknownNamespace:      "unknown namespace",
	CodePermissionDenied:      "permission denied",
	CodeUnknownCommand:        "unknown command type",
	CodeAlreadySubscribed:     "already subscribed",
	CodeLimitExceeded:         "limit exceeded",
	CodeBadRequest:            "bad request",
	CodeNotAvailable:          "not available",
	CodeTokenExpired:          "token expired",
	CodeTooManyRequests:       "too many requests",
	CodeUnrecoverablePosition: "position unrecoverable",
}

// Temporary reports whether a command that failed with this code may succeed
// if the client simply tries again later.
func (c ErrorCode) Temporary() bool {
	return c == CodeInternal || c == CodeTooManyRequests
}

// String returns the code's standard message.
func (c ErrorCode) String() string {
	if m, ok := errorMessages[c]; ok {
		return m
	}
	return fmt.Sprintf("error %d", uint32(c))
}

// Error is a protocol error: what a failed command's reply carries. It
// implements the error interface so that every layer of the server can
// return it and the connection can put it on the wire unchanged.
type Error struct {
	Code      ErrorCode `json:"code"`
	Message   string    `json:"message"`
	Temporary bool      `json:"temporary"`
}

// NewError returns an Error with the code's standard message, or msg when
// it is not empty.
func NewError(code ErrorCode, msg string) *Error {
	if msg == "" {
		msg = code.String()
	}
	return &Error{Code: code, Message: msg, Temporary: code.Temporary()}
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d)", e.Message, uint32(e.Code))
}

// Common errors, shared so the hot path does not allocate them.
var (
	ErrInternal              = NewError(CodeInternal, "")
	ErrUnauthorized          = NewError(CodeUnauthorized, "")
	ErrUnknownNamespace      = NewError(CodeUnknownNamespace, "")
	ErrPermissionDenied      = NewError(CodePermissionDenied, "")
	ErrUnknownCommand        = NewError(CodeUnknownCommand, "")
	ErrAlreadySubscribed     = NewError(CodeAlreadySubscribed, "")
	ErrLimitExceeded         = NewError(CodeLimitExceeded, "")
	ErrBadRequest            = NewError(CodeBadRequest, "")
	ErrNotAvailable          = NewError(CodeNotAvailable, "")
	ErrTokenExpired          = NewError(CodeTokenExpired, "")
	ErrTooManyRequests       = NewError(CodeTooManyRequests, "")
	ErrUnrecoverablePosition = NewError(CodeUnrecoverablePosition, "")
)

// CloseCode is a WebSocket close code, as carried by the close frame and the
// disconnect push that precedes it.
type CloseCode uint16

// Close codes from the protocol's table.
const (
	CloseNormal           CloseCode = 1000
	CloseGoingAway        CloseCode = 1001
	CloseProtocolError    CloseCode = 1002
	CloseUnsupportedData  CloseCode = 1003
	CloseInvalidPayload   CloseCode = 1007
	CloseMessageTooBig    CloseCode = 1009
	CloseReconnect        CloseCode = 4000
	CloseSlowConsumer     CloseCode = 4001
	CloseHeartbeatTimeout CloseCode = 4002
	CloseTokenExpired     CloseCode = 4003
	CloseRateLimited      CloseCode = 4004
	CloseConnectionLimit  CloseCode = 4005
	CloseInternal         CloseCode = 4006
	CloseBadRequest       CloseCode = 4500
	CloseUnauthorized     CloseCode = 4501
	CloseForbidden        CloseCode = 4502
)

// CloseAbnormal is the code of a connection that ended without a close
// frame (RFC 6455 §7.1.5): never sent, only reported, as the code a
// connection closed with when no side sent one.
const CloseAbnormal CloseCode = 1006

// Reconnect reports whether a client should reconnect after a close with
// this code, per the protocol's close-code table. Codes outside the table
// (an application's own 4xxx codes sent through the server API) follow the
// convention of the 4000–4499 range: reconnect; 4500 and above: do not.
func (c CloseCode) Reconnect() bool {
	switch c {
	case CloseGoingAway, CloseReconnect, CloseSlowConsumer, CloseHeartbeatTimeout,
		CloseTokenExpired, CloseRateLimited, CloseConnectionLimit, CloseInternal:
		return true
	case CloseNormal, CloseProtocolError, CloseUnsupportedData, CloseInvalidPayload,
		CloseMessageTooBig, CloseBadRequest, CloseUnauthorized, CloseForbidden:
		return false
	}
	return c >= 4000 && c < 4500
}

// Disconnect says why the server ends a connection. It is both the payload of
// the disconnect push and the close frame's code and reason.
type Disconnect struct {
	Code      CloseCode `json:"code"`
	Reason    string    `json:"reason"`
	Reconnect bool      `json:"reconnect"`
}

// NewDisconnect returns a Disconnect whose reconnect flag follows the
// close-code table.
func NewDisconnect(code CloseCode, reason string) Disconnect {
	return Disconnect{Code: code, Reason: reason, Reconnect: code.Reconnect()}
}

// Error implements error, so a disconnect can travel up as an error.
func (d Disconnect) Error() string {
	return fmt.Sprintf("disconnect %d: %s", d.Code, d.Reason)
}

// Standard disconnects.
var (
	DisconnectShutdown         = NewDisconnect(CloseGoingAway, "server shutting down")
	DisconnectSlowConsumer     = NewDisconnect(CloseSlowConsumer, "slow consumer")
	DisconnectHeartbeatTimeout = NewDisconnect(CloseHeartbeatTimeout, "heartbeat timeout")
	DisconnectTokenExpired     = NewDisconnect(CloseTokenExpired, "token expired")
	DisconnectRateLimited      = NewDisconnect(CloseRateLimited, "rate limited")
	DisconnectConnectionLimit  = NewDisconnect(CloseConnectionLimit, "connection limit reached")
	DisconnectInternal         = NewDisconnect(CloseInternal, "internal server error")
	DisconnectBadRequest       = NewDisconnect(CloseBadRequest, "bad request")
	DisconnectUnauthorized     = NewDisconnect(CloseUnauthorized, "unauthorized")
	DisconnectForbidden        = NewDisconnect(CloseForbidden, "disconnected by server")
	DisconnectConnectTimeout   = NewDisconnect(CloseBadRequest, "connect timeout")
)
