package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/heraldhq/herald/protocol"
)

// Server-sent events, and the cursor that lets a plain EventSource
// reconnect exactly.
//
// Every server message is one event, "data: <JSON>\n\n" (a JSON message
// never holds a raw newline). An EventSource reconnects by itself, with
// the same URL, so with the positions its connect command had: whatever
// it received since would come again, or, once history has moved on,
// not be recovered. So the server follows, on each connection, the
// position of every stream the client is subscribed to as the messages
// that carry one are written (connect and subscribe replies, subscribed
// pushes, message and direct pushes), and when a message moves one, it
// gives its event an id: the cursor, base64url of the JSON
// {"s":{channel:{"offset","epoch"}},"i":{"offset","epoch"}} ("i": the
// inbox). The browser sends the last id it saw as Last-Event-ID when it
// reconnects, and the server takes the cursor's positions as the since of
// those channels and the inbox_since, subscribing the cursor's channels
// that the URL does not name too. A cursor longer than maxCursor is not
// sent: the event then carries an empty id, so the browser forgets the
// last one rather than resume from a stale position.

// maxCursor bounds an event id, encoded.
const maxCursor = 2048

// maxExpected bounds the subscribe commands whose reply the cursor waits
// for; past it a subscribe's position is learned from its next message.
const maxExpected = 256

// cursor is what an event id holds.
type cursor struct {
	Subs  map[string]protocol.StreamPosition `json:"s,omitempty"`
	Inbox *protocol.StreamPosition           `json:"i,omitempty"`
}

// parseCursor reads a Last-Event-ID; an empty one or one that does not
// decode yields nil.
func parseCursor(id string) *cursor {
	if id == "" || len(id) > maxCursor {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return &c
}

// sseWriter frames a connection's messages as events and follows its
// cursor. write runs under the connection's write lock; expect may run
// beside it, hence mu.
type sseWriter struct {
	mu        sync.Mutex
	connectID uint32
	connected bool
	expected  map[uint32]string // subscribe id → channel
	cur       cursor
	dirty     bool
	idLine    []byte
}

func newSSEWriter(connectID uint32) *sseWriter {
	return &sseWriter{connectID: connectID, cur: cursor{Subs: make(map[string]protocol.StreamPosition)}}
}

// expect records that the reply to subscribe command id is for channel.
func (s *sseWriter) expect(id uint32, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expected == nil {
		s.expected = make(map[uint32]string)
	}
	if len(s.expected) < maxExpected {
		s.expected[id] = channel
	}
}

var (
	dataPrefix = []byte("data: ")
	eventEnd   = []byte("\n\n")
)

// write writes the frame's messages as events.
func (s *sseWriter) write(w http.ResponseWriter, parts [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		if len(p) == 1 && p[0] == '\n' {
			continue // the separator between JSON messages
		}
		s.follow(p)
		if _, err := w.Write(dataPrefix); err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		if s.dirty {
			s.dirty = false
			if _, err := w.Write(s.makeIDLine()); err != nil {
				return err
			}
		}
		if _, err := w.Write(eventEnd); err != nil {
			return err
		}
	}
	return nil
}

// makeIDLine returns "\nid: <cursor>", or an empty id when the cursor is
// too long.
func (s *sseWriter) makeIDLine() []byte {
	b, _ := json.Marshal(&s.cur)
	n := base64.RawURLEncoding.EncodedLen(len(b))
	s.idLine = append(s.idLine[:0], "\nid: "...)
	if n > maxCursor {
		s.idLine = s.idLine[:len(s.idLine)-1] // "\nid:"
		return s.idLine
	}
	s.idLine = base64.RawURLEncoding.AppendEncode(s.idLine, b)
	return s.idLine
}

// The prefixes of the messages that move a position, as the JSON encoding
// writes them.
var (
	prefixMessage      = []byte(`{"type":"message","channel":`)
	prefixDirect       = []byte(`{"type":"direct",`)
	prefixSubscribed   = []byte(`{"type":"subscribed",`)
	prefixUnsubscribed = []byte(`{"type":"unsubscribed",`)
	prefixReply        = []byte(`{"id":`)
	fieldOffset        = []byte(`,"offset":`)
)

// follow updates the cursor with what msg says of a position.
func (s *sseWriter) follow(msg []byte) {
	switch {
	case bytes.HasPrefix(msg, prefixMessage):
		ch, rest, ok := leadingString(msg[len(prefixMessage):])
		if !ok {
			return
		}
		pos, known := s.cur.Subs[ch]
		if off, ok := offsetAt(rest); known && ok {
			pos.Offset = off
			s.cur.Subs[ch] = pos
			s.dirty = true
		}
	case bytes.HasPrefix(msg, prefixDirect):
		// No string holds `,"offset":` unescaped: the first is the push's.
		if i := bytes.Index(msg, fieldOffset); i >= 0 && s.cur.Inbox != nil {
			if off, ok := offsetAt(msg[i:]); ok {
				s.cur.Inbox.Offset = off
				s.dirty = true
			}
		}
	case bytes.HasPrefix(msg, prefixSubscribed):
		var p struct {
			Channel string `json:"channel"`
			protocol.StreamPosition
		}
		if json.Unmarshal(msg, &p) == nil {
			s.cur.Subs[p.Channel] = p.StreamPosition
			s.dirty = true
		}
	case bytes.HasPrefix(msg, prefixUnsubscribed):
		var p struct {
			Channel string `json:"channel"`
		}
		if json.Unmarshal(msg, &p) == nil {
			delete(s.cur.Subs, p.Channel)
			s.dirty = true
		}
	case bytes.HasPrefix(msg, prefixReply):
		s.followReply(msg)
	}
}

// followReply takes the positions of the connect reply and of subscribe
// replies.
func (s *sseWriter) followReply(msg []byte) {
	rest := msg[len(prefixReply):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	id64, err := strconv.ParseUint(string(rest[:end]), 10, 32)
	if err != nil {
		return
	}
	id := uint32(id64)
	switch channel, ok := s.expected[id]; {
	case !s.connected && id == s.connectID:
		s.connected = true
		var r struct {
			Result *struct {
				Subs map[string]struct {
					protocol.StreamPosition
					Error *protocol.Error `json:"error"`
				} `json:"subs"`
				Inbox *protocol.StreamPosition `json:"inbox"`
			} `json:"result"`
		}
		if json.Unmarshal(msg, &r) != nil || r.Result == nil {
			return
		}
		for ch, sub := range r.Result.Subs {
			if sub.Error == nil {
				s.cur.Subs[ch] = sub.StreamPosition
			}
		}
		s.cur.Inbox = r.Result.Inbox
		s.dirty = true
	case ok:
		delete(s.expected, id)
		var r struct {
			Result *protocol.StreamPosition `json:"result"`
		}
		if json.Unmarshal(msg, &r) == nil && r.Result != nil {
			s.cur.Subs[channel] = *r.Result
			s.dirty = true
		}
	}
}

// leadingString decodes the JSON string b starts with and returns the
// bytes after it.
func leadingString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	escaped := false
	for i := 1; i < len(b); i++ {
		switch {
		case escaped:
			escaped = false
		case b[i] == '\\':
			escaped = true
		case b[i] == '"':
			if bytes.IndexByte(b[1:i], '\\') < 0 {
				return string(b[1:i]), b[i+1:], true
			}
			var s string
			if json.Unmarshal(b[:i+1], &s) != nil {
				return "", nil, false
			}
			return s, b[i+1:], true
		}
	}
	return "", nil, false
}

// offsetAt reads the number of the `,"offset":N` b starts with.
func offsetAt(b []byte) (uint64, bool) {
	if !bytes.HasPrefix(b, fieldOffset) {
		return 0, false
	}
	b = b[len(fieldOffset):]
	end := 0
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	n, err := strconv.ParseUint(string(b[:end]), 10, 64)
	return n, err == nil
}

// errNoConnect is normalizeConnect's answer to a source without one.
var errNoConnect = errors.New("the command must be connect")
