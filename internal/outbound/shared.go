package outbound

import (
	"sync"
	"sync/atomic"
)

// NumForms is how many derived forms a Shared keeps (Shared.Form).
const NumForms = 8

// Shared is a message encoded once and pushed to many Conns (a live
// publication, a presence push): its bytes, and the forms a transport
// derives from them (a compressed payload), each made once, by the first
// Conn that needs it, and shared by every Conn that needs the same, so
// that the work of a fan-out stays once per message and never once per
// subscriber.
type Shared struct {
	// Bytes is the message. Nothing changes it once it is shared.
	Bytes []byte

	mu    sync.Mutex // serializes making a form, so it is made once
	forms [NumForms]atomic.Pointer[[]byte]
}

// NewShared returns a Shared of msg.
func NewShared(msg []byte) *Shared { return &Shared{Bytes: msg} }

// Form returns the form numbered key (below NumForms) that derive makes of
// s.Bytes: made by the first caller, while later callers of the same key
// wait for it, then kept with s for every later caller. derive must not
// keep or change its argument.
func (s *Shared) Form(key int, derive func(msg []byte) []byte) []byte {
	if p := s.forms[key].Load(); p != nil {
		return *p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.forms[key].Load(); p != nil {
		return *p
	}
	b := derive(s.Bytes)
	s.forms[key].Store(&b)
	return b
}

// Message is one queued message as the writer hands it to a transport
// that frames messages itself (Writes.Messages): its bytes, and the Shared
// they are when they are one (nil for a message built for this connection
// alone).
type Message struct {
	Bytes  []byte
	Shared *Shared
}
