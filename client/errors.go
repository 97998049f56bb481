package client

import (
	"errors"
	"fmt"

	"github.com/heraldhq/herald/protocol"
)

// Error is a command's failure as the server reported it.
type Error struct {
	Code    protocol.ErrorCode
	Message string
	temp    bool
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("herald: %s (%d)", e.Message, uint32(e.Code))
}

// Temporary reports whether retrying the same command may succeed.
func (e *Error) Temporary() bool { return e.temp }

// ErrClosed is returned by calls on a client that Close has closed, or that
// the server closed with a code after which a client must not reconnect.
var ErrClosed = errors.New("herald: client closed")

// ErrDisconnected is returned by a call whose connection dropped before its
// reply arrived. The command may or may not have taken effect.
var ErrDisconnected = errors.New("herald: disconnected before reply")

// CloseError says why the server closed the connection for good.
type CloseError struct {
	Code   protocol.CloseCode
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	return fmt.Sprintf("herald: closed by server with %d: %s", e.Code, e.Reason)
}
