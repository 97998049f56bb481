package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	fastjson "github.com/segmentio/encoding/json"
)

// ErrMalformed is returned for a frame that does not hold well-formed messages.
// The connection is closed with 4500 when it happens.
var ErrMalformed = errors.New("protocol: malformed message")

// jsonCodec is the JSON encoding: one JSON object per message, the
// messages of a frame separated by newlines.
type jsonCodec struct{}

func (jsonCodec) name() string        { return "json" }
func (jsonCodec) subprotocol() string { return SubprotocolJSON }
func (jsonCodec) binary() bool        { return false }
func (jsonCodec) separator() []byte   { return newline }

var newline = []byte{'\n'}

// decodeFrame decodes a JSON frame of commands, one per line (blank lines
// and a trailing newline are allowed).
func (jsonCodec) decodeFrame(frame []byte, fn func(*Command) error) error {
	n := 0
	err := eachLine(frame, func(line []byte) error {
		n++
		if tooDeep(line) {
			return fmt.Errorf("%w: message %d: nested deeper than %d", ErrMalformed, n, maxNesting)
		}
		var cmd Command
		// segmentio's decoder validates and decodes in one pass, where
		// encoding/json scans the line twice: 3-4x faster on a 4 KiB
		// publish, the largest cost of a JSON round trip in profiles.
		if err := fastjson.Unmarshal(line, &cmd); err != nil {
			return malformedJSON(line, n, new(Command))
		}
		if cmd.Type == "" {
			return fmt.Errorf("%w: message %d: missing type", ErrMalformed, n)
		}
		return fn(&cmd)
	})
	if err == nil && n == 0 {
		return fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	return err
}

// malformedJSON describes why msg, the index-th message of its frame, does
// not decode into v: by kind and position only. Decoders' own messages quote
// the input (segmentio's the first 32 bytes where it stopped, encoding/json's
// the offending character or number), and what a peer sent must never reach
// a log. The fast decoder reports no position; encoding/json, run again on
// this path that ends the connection, does.
func malformedJSON(msg []byte, index int, v any) error {
	err := json.Unmarshal(msg, v)
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: message %d: invalid JSON at byte %d", ErrMalformed, index, syntax.Offset)
	case errors.As(err, &typ):
		// The expected type is the decoder's; the field's path is not
		// named, since it may hold a map key the peer chose.
		return fmt.Errorf("%w: message %d: a field has the wrong type at byte %d (want %s)", ErrMalformed, index, typ.Offset, typ.Type)
	}
	return fmt.Errorf("%w: message %d: not a valid message", ErrMalformed, index)
}

// maxNesting is encoding/json's bound on nesting. The faster decoder has
// none and recurses, so deeper input is refused before it gets there: a
// frame of brackets as large as the message size limit allows must not
// exhaust a goroutine's stack.
const maxNesting = 10000

// tooDeep reports whether line nests deeper than maxNesting. Counting
// brackets is a vectorised pass; the exact depth is computed only for the
// rare line with that many brackets.
func tooDeep(line []byte) bool {
	if bytes.Count(line, []byte{'['})+bytes.Count(line, []byte{'{'}) <= maxNesting {
		return false
	}
	return JSONDepth(line) > maxNesting
}

// JSONDepth returns the deepest nesting of arrays and objects in a JSON
// value, ignoring brackets inside strings. It does not validate: on
// malformed input the answer is an estimate.
func JSONDepth(b []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// countCommands counts a JSON frame's non-blank lines.
func (jsonCodec) countCommands(frame []byte, limit int) int {
	n := 0
	_ = eachLine(frame, func([]byte) error {
		n++
		if n > limit {
			return errStopCounting
		}
		return nil
	})
	return n
}

var errStopCounting = errors.New("stop counting")

// eachLine calls fn for each non-blank line of a JSON frame, stopping at
// the first error.
func eachLine(frame []byte, fn func(line []byte) error) error {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

func (jsonCodec) appendErrorReply(buf []byte, id uint32, e *Error) []byte {
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendUint(buf, uint64(id), 10)
	return appendErrorTail(buf, e)
}

func appendErrorTail(buf []byte, e *Error) []byte {
	buf = append(buf, `,"error":{"code":`...)
	buf = strconv.AppendUint(buf, uint64(e.Code), 10)
	buf = append(buf, `,"message":`...)
	buf = AppendString(buf, e.Message)
	buf = append(buf, `,"temporary":`...)
	buf = strconv.AppendBool(buf, e.Temporary)
	return append(buf, "}}"...)
}

// appendJSONPush appends a push of the given type whose remaining fields are
// those of body, which must marshal to a JSON object (nil for none).
func appendJSONPush(buf []byte, typ string, body any) ([]byte, error) {
	buf = append(buf, `{"type":`...)
	buf = AppendString(buf, typ)
	if body == nil {
		return append(buf, '}'), nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return buf, err
	}
	if len(b) < 2 || b[0] != '{' {
		return buf, fmt.Errorf("protocol: push body is not an object: %s", b)
	}
	if len(b) > 2 {
		buf = append(buf, ',')
	}
	return append(buf, b[1:]...), nil
}

func (jsonCodec) appendMessagePush(buf []byte, channel string, pub *Publication) []byte {
	buf = append(buf, `{"type":"message","channel":`...)
	buf = AppendString(buf, channel)
	if pub.Offset > 0 {
		buf = append(buf, `,"offset":`...)
		buf = strconv.AppendUint(buf, pub.Offset, 10)
	}
	buf = appendDataInfoTime(buf, pub)
	return append(buf, '}')
}

func (jsonCodec) appendDirectPush(buf []byte, from ClientInfo, pub *Publication) []byte {
	buf = append(buf, `{"type":"direct","from":`...)
	buf = appendClientInfo(buf, &from)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendUint(buf, pub.Offset, 10)
	pub2 := *pub
	pub2.Info = nil
	buf = appendDataInfoTime(buf, &pub2)
	return append(buf, '}')
}

func (jsonCodec) appendPresencePush(buf []byte, typ, channel string, info ClientInfo) []byte {
	buf = append(buf, `{"type":`...)
	buf = AppendString(buf, typ)
	buf = append(buf, `,"channel":`...)
	buf = AppendString(buf, channel)
	buf = append(buf, `,"info":`...)
	buf = appendClientInfo(buf, &info)
	return append(buf, '}')
}

func (jsonCodec) appendSubscribedPush(buf []byte, channel string, res *SubscribeResult) ([]byte, error) {
	return appendJSONPush(buf, PushSubscribed, struct {
		Channel string `json:"channel"`
		*SubscribeResult
	}{channel, res})
}

func (jsonCodec) appendUnsubscribedPush(buf []byte, channel string, code int, reason string) []byte {
	b, _ := appendJSONPush(buf, PushUnsubscribed, struct {
		Channel string `json:"channel"`
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
	}{channel, code, reason})
	return b
}

func (jsonCodec) appendRefreshNeededPush(buf []byte, expires int64) []byte {
	b, _ := appendJSONPush(buf, PushRefreshNeeded, struct {
		Expires int64 `json:"expires"`
	}{expires})
	return b
}

func (jsonCodec) appendDisconnectPush(buf []byte, d Disconnect) []byte {
	buf = append(buf, `{"type":"disconnect","code":`...)
	buf = strconv.AppendUint(buf, uint64(d.Code), 10)
	buf = append(buf, `,"reason":`...)
	buf = AppendString(buf, d.Reason)
	buf = append(buf, `,"reconnect":`...)
	buf = strconv.AppendBool(buf, d.Reconnect)
	return append(buf, '}')
}

var jsonPing = []byte(`{"type":"ping"}`)

func (jsonCodec) pingPush() []byte { return jsonPing }

// MarshalJSON encodes a publication as the protocol's pub object: data is
// inlined when it is valid JSON within MaxDepth and base64-encoded under
// "b64" otherwise.
func (p *Publication) MarshalJSON() ([]byte, error) {
	buf := make([]byte, 0, 64+len(p.Data))
	buf = append(buf, `{"offset":`...)
	buf = strconv.AppendUint(buf, p.Offset, 10)
	buf = appendDataInfoTime(buf, p)
	return append(buf, '}'), nil
}

// UnmarshalJSON decodes a pub object, accepting data or b64.
func (p *Publication) UnmarshalJSON(b []byte) error {
	var w struct {
		Offset uint64          `json:"offset"`
		Data   json.RawMessage `json:"data"`
		B64    []byte          `json:"b64"`
		Info   *ClientInfo     `json:"info"`
		Time   int64           `json:"ts"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	p.Offset, p.Info, p.Time = w.Offset, w.Info, w.Time
	p.Data = []byte(w.Data)
	if w.B64 != nil {
		p.Data = w.B64
	}
	return nil
}

// appendDataInfoTime appends `,"data":...` (or b64), info and ts.
func appendDataInfoTime(buf []byte, pub *Publication) []byte {
	switch {
	case len(pub.Data) == 0:
		buf = append(buf, `,"data":null`...)
	case pub.inline():
		buf = appendJSONData(buf, pub.Data)
	default:
		buf = append(buf, `,"b64":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, pub.Data)
		buf = append(buf, '"')
	}
	if pub.Info != nil {
		buf = append(buf, `,"info":`...)
		buf = appendClientInfo(buf, pub.Info)
	}
	buf = append(buf, `,"ts":`...)
	return strconv.AppendInt(buf, pub.Time, 10)
}

// appendJSONData appends `,"data":<data>` for data that is valid JSON. A
// JSON frame carries one message per line, so JSON with line breaks
// (pretty-printed, as an API body may hold it) is compacted first.
func appendJSONData(buf []byte, data []byte) []byte {
	buf = append(buf, `,"data":`...)
	if bytes.IndexByte(data, '\n') < 0 {
		return append(buf, data...)
	}
	out := bytes.NewBuffer(buf)
	if err := json.Compact(out, data); err != nil {
		// Not JSON after all: never emit broken framing.
		return append(buf, `null`...)
	}
	return out.Bytes()
}

func appendClientInfo(buf []byte, ci *ClientInfo) []byte {
	buf = append(buf, `{"user":`...)
	buf = AppendString(buf, ci.User)
	buf = append(buf, `,"client":`...)
	buf = AppendString(buf, ci.Client)
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func AppendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

func (jsonCodec) appendCommand(buf []byte, cmd *Command) ([]byte, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}

// jsonServerMessage is a server message as JSON spells it.
type jsonServerMessage struct {
	ID           uint32          `json:"id"`
	Result       json.RawMessage `json:"result"`
	Error        *Error          `json:"error"`
	Type         string          `json:"type"`
	Channel      string          `json:"channel"`
	Offset       uint64          `json:"offset"`
	Data         json.RawMessage `json:"data"`
	B64          []byte          `json:"b64"`
	Info         *ClientInfo     `json:"info"`
	From         ClientInfo      `json:"from"`
	Time         int64           `json:"ts"`
	Epoch        string          `json:"epoch"`
	Recovered    *bool           `json:"recovered"`
	Publications []*Publication  `json:"publications"`
	Code         int             `json:"code"`
	Reason       string          `json:"reason"`
	Reconnect    bool            `json:"reconnect"`
	Expires      int64           `json:"expires"`
}

// decodeServerFrame decodes a frame of server messages, one per line.
func (jsonCodec) decodeServerFrame(frame []byte, fn func(*ServerMessage) error) error {
	n := 0
	return eachLine(frame, func(line []byte) error {
		n++
		var w jsonServerMessage
		if err := fastjson.Unmarshal(line, &w); err != nil {
			return malformedJSON(line, n, new(jsonServerMessage))
		}
		m := &ServerMessage{
			ID: w.ID, Error: w.Error, Type: w.Type, Channel: w.Channel, Offset: w.Offset,
			Data: w.Data, Info: w.Info, From: w.From, Time: w.Time, Epoch: w.Epoch,
			Recovered: w.Recovered, Publications: w.Publications, Code: w.Code,
			Reason: w.Reason, Reconnect: w.Reconnect, Expires: w.Expires,
			rawResult: w.Result,
		}
		if w.B64 != nil {
			m.Data = w.B64
		}
		return fn(m)
	})
}
