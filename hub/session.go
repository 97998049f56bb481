package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
)

// Sessions: how a command POSTed to any node reaches a stream connection
// (server-sent events, HTTP streaming), whose client cannot send on the
// connection it reads.
//
// A stream connection has a session: the id of the node that holds it, a
// dot, and 128 random bits. It is a secret the connection's client alone
// learns (from its connect reply), so naming it is what authorizes a POST.
// A node that receives a POST for a session of its own hands the commands
// to the connection at once; one for another node's session goes to that
// node over the broker's control channel (sessionCommand) and waits for its
// answer (sessionAnswer), at most RouteTimeout, with at most
// MaxPendingRoutes such requests waiting for one node at a time.

// SessionTransport is a Transport whose client reads a stream it cannot
// write to: its commands come by POST, naming the connection's session,
// and it cannot be required to answer pings.
type SessionTransport interface {
	Transport
	// Session returns the connection's session, which its connect reply
	// carries.
	Session() string
}

// SessionSink takes the commands POSTed for one session.
type SessionSink interface {
	// User returns the user the session's connection authenticated as;
	// "" before connect and for anonymous connections.
	User() string
	// Deliver checks body, one frame of commands in the connection's
	// encoding, and queues it behind the frames queued before, without
	// waiting. It must not block: the control worker calls it.
	Deliver(body []byte) SessionResult
}

// SessionStatus is what became of a POST's commands.
type SessionStatus int

// The answers to a POST. The HTTP layer maps each to a status code.
const (
	// SessionAccepted: the commands are queued on the connection.
	SessionAccepted SessionStatus = iota + 1
	// SessionMalformed: the body does not decode, or holds too many
	// commands or none; the session is untouched.
	SessionMalformed
	// SessionNotFound: no such session, or it has ended.
	SessionNotFound
	// SessionForbidden: the POST's token names another user than the
	// session's, or does not verify.
	SessionForbidden
	// SessionFull: the session's queue of commands is full.
	SessionFull
	// SessionUnreachable: the node holding the session did not answer in
	// time, or too many requests for it are waiting already.
	SessionUnreachable
)

// SessionResult is a POST's answer: its status and, for
// SessionMalformed, what is wrong.
type SessionResult struct {
	Status  SessionStatus `json:"status"`
	Message string        `json:"message,omitempty"`
	// NotSent, with SessionUnreachable, says the commands certainly did
	// not reach the session (too many requests waiting for its node, or
	// the broker refused the message), so the client may send them again.
	NotSent bool `json:"-"`
}

// SessionCredentials say who sends a POST: a token, when the request
// carried one, which must name the session's user.
type SessionCredentials struct {
	Token string
}

// sessionCommand carries a POST's commands to the node holding the
// session; the node answers From with a sessionAnswer of the same ID.
type sessionCommand struct {
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	ID      string `json:"id,omitempty"`
	Session string `json:"session,omitempty"`
	// User is the user of the POST's token, when it had one (CheckUser).
	User      string `json:"user,omitempty"`
	CheckUser bool   `json:"check_user,omitempty"`
	Body      []byte `json:"body,omitempty"`
}

// sessionAnswer answers a sessionCommand, for node To only.
type sessionAnswer struct {
	From   string        `json:"from,omitempty"`
	To     string        `json:"to,omitempty"`
	ID     string        `json:"id,omitempty"`
	Result SessionResult `json:"result"`
}

func (sessionCommand) op() string { return "session_command" }
func (sessionAnswer) op() string  { return "session_answer" }

// sessionRegistry holds this node's sessions and the POSTs waiting for
// other nodes' answers.
type sessionRegistry struct {
	mu       sync.Mutex
	sinks    map[string]SessionSink
	pending  map[string]int                // waiting requests by node
	awaiting map[string]chan SessionResult // by request id
}

// NewSession returns a new session id of this node.
func (h *Hub) NewSession() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return h.id + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// AddSession makes id's POSTs reach s, until RemoveSession.
func (h *Hub) AddSession(id string, s SessionSink) {
	r := &h.sessions
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sinks == nil {
		r.sinks = make(map[string]SessionSink)
	}
	r.sinks[id] = s
}

// RemoveSession forgets id: its POSTs are answered SessionNotFound.
func (h *Hub) RemoveSession(id string) {
	r := &h.sessions
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sinks, id)
}

func (h *Hub) sessionSink(id string) SessionSink {
	r := &h.sessions
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sinks[id]
}

// PostSession hands body, one frame of commands, to the connection of
// session, on this node or, through the broker, on the node holding it,
// and returns what became of it. A token in cred is checked here, where
// the POST arrived; the user it names must be the session's. It returns
// within the hub's RouteTimeout, or ctx.
func (h *Hub) PostSession(ctx context.Context, session string, cred SessionCredentials, body []byte) SessionResult {
	node, _, ok := strings.Cut(session, ".")
	if !ok || node == "" {
		return SessionResult{Status: SessionNotFound}
	}
	var user string
	check := cred.Token != ""
	if check {
		if h.tokens == nil {
			return SessionResult{Status: SessionForbidden}
		}
		claims, err := h.tokens.VerifyConnect(cred.Token)
		if err != nil || claims.User == "" {
			return SessionResult{Status: SessionForbidden}
		}
		user = claims.User
	}
	if node == h.id {
		return h.deliverSession(session, user, check, body)
	}
	return h.routeSession(ctx, node, sessionCommand{
		From: h.id, To: node, ID: newClientID(), Session: session,
		User: user, CheckUser: check, Body: body,
	})
}

// deliverSession hands body to a session of this node.
func (h *Hub) deliverSession(session, user string, check bool, body []byte) SessionResult {
	s := h.sessionSink(session)
	if s == nil {
		return SessionResult{Status: SessionNotFound}
	}
	if check && s.User() != user {
		return SessionResult{Status: SessionForbidden}
	}
	return s.Deliver(body)
}

// routeSession sends m to its node and waits for the answer.
func (h *Hub) routeSession(ctx context.Context, node string, m sessionCommand) SessionResult {
	r := &h.sessions
	answer := make(chan SessionResult, 1)
	r.mu.Lock()
	if r.pending[node] >= h.cfg.MaxPendingRoutes {
		r.mu.Unlock()
		return SessionResult{Status: SessionUnreachable, NotSent: true}
	}
	if r.pending == nil {
		r.pending = make(map[string]int)
		r.awaiting = make(map[string]chan SessionResult)
	}
	r.pending[node]++
	r.awaiting[m.ID] = answer
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.awaiting, m.ID)
		decrement(r.pending, node)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.RouteTimeout)
	defer cancel()
	if err := h.sendControl(ctx, m); err != nil {
		return SessionResult{Status: SessionUnreachable, NotSent: true}
	}
	select {
	case res := <-answer:
		return res
	case <-ctx.Done():
		return SessionResult{Status: SessionUnreachable}
	}
}

// decrement lowers m[key] by one, forgetting keys that reach zero.
func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
	} else {
		m[key]--
	}
}

// answered hands a node's answer to the POST waiting for it, if it is
// this node's and still waits.
func (r *sessionRegistry) answered(self string, a sessionAnswer) {
	if a.To != self {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch := r.awaiting[a.ID]; ch != nil {
		select {
		case ch <- a.Result:
		default:
		}
	}
}

// answerSession runs another node's POST on this node and answers it.
func (h *Hub) answerSession(ctx context.Context, m sessionCommand) {
	res := h.deliverSession(m.Session, m.User, m.CheckUser, m.Body)
	_ = h.sendControl(ctx, sessionAnswer{From: h.id, To: m.From, ID: m.ID, Result: res})
}
