package nats

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/heraldhq/herald/broker"
)

// Record kinds. A stream message of a channel or inbox is a publication or
// a marker; live messages are publications, direct messages, joins and
// leaves.
const (
	kindPub    = 'p' // a publication, stored or live on a channel subject
	kindMarker = 'm' // stored only: keeps a position (and epoch) alive
	kindDirect = 'd' // live only: a direct message, preceded by its user
	kindJoin   = 'j'
	kindLeave  = 'l'
)

// record is what the broker stores in a history stream and sends live. One
// layout serves both so that a live message can carry everything a reader
// of the stream would see:
//
//	kind [user (direct only)] offset epoch time seq prev ttl life size info data
//
// with unsigned varints for numbers (time is a signed varint), uvarint
// length-prefixed strings, and info = 0x00 (none) | 0x01 user client
// conninfo. Joins and leaves are kind and info only.
type record struct {
	kind   byte
	user   string // kindDirect only
	offset uint64
	epoch  string
	time   int64  // the publication's Time, unix ms
	seq    uint64 // the stream sequence; live messages only (unknown when storing)
	prev   uint64 // stream sequence of the subject's previous message, 0 when none
	ttl    uint64 // publication TTL, ms
	life   uint64 // how long the position lives after this message, ms
	size   uint64 // the stream size the publisher asked for
	info   *broker.ClientInfo
	data   []byte
}

var errMalformed = errors.New("nats: malformed message")

func ms(d time.Duration) uint64 { return uint64(max(d, 0) / time.Millisecond) }

func (r *record) encode() []byte {
	n := 1 + 8*binary.MaxVarintLen64 + len(r.user) + len(r.epoch) + len(r.data)
	if r.info != nil {
		n += 3*binary.MaxVarintLen32 + len(r.info.User) + len(r.info.Client) + len(r.info.ConnInfo)
	}
	buf := make([]byte, 1, n)
	buf[0] = r.kind
	if r.kind == kindJoin || r.kind == kindLeave {
		return appendInfo(buf, r.info)
	}
	if r.kind == kindDirect {
		buf = appendString(buf, r.user)
	}
	buf = binary.AppendUvarint(buf, r.offset)
	buf = appendString(buf, r.epoch)
	buf = binary.AppendVarint(buf, r.time)
	buf = binary.AppendUvarint(buf, r.seq)
	buf = binary.AppendUvarint(buf, r.prev)
	buf = binary.AppendUvarint(buf, r.ttl)
	buf = binary.AppendUvarint(buf, r.life)
	buf = binary.AppendUvarint(buf, r.size)
	buf = appendInfo(buf, r.info)
	return append(buf, r.data...)
}

// decodeRecord parses b. The record's strings and data are copies: b may be
// a buffer the NATS client reuses.
func decodeRecord(b []byte) (*record, error) {
	if len(b) == 0 {
		return nil, errMalformed
	}
	r := &record{kind: b[0]}
	d := decoder{b: b[1:]}
	switch r.kind {
	case kindJoin, kindLeave:
		r.info = d.info()
		return r, d.done()
	case kindDirect:
		r.user = d.string()
	case kindPub, kindMarker:
	default:
		return nil, errMalformed
	}
	r.offset = d.uvarint()
	r.epoch = d.string()
	r.time = d.varint()
	r.seq = d.uvarint()
	r.prev = d.uvarint()
	r.ttl = d.uvarint()
	r.life = d.uvarint()
	r.size = d.uvarint()
	r.info = d.info()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) > 0 {
		r.data = append([]byte(nil), d.b...)
	}
	return r, nil
}

// publication is the record as the Handler and History callers see it.
func (r *record) publication() *broker.Publication {
	return &broker.Publication{Offset: r.offset, Data: r.data, Info: r.info, Time: r.time}
}

func (r *record) position() broker.StreamPosition {
	if r.offset == 0 {
		return broker.StreamPosition{}
	}
	return broker.StreamPosition{Offset: r.offset, Epoch: r.epoch}
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func appendInfo(buf []byte, info *broker.ClientInfo) []byte {
	if info == nil {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = appendString(buf, info.User)
	buf = appendString(buf, info.Client)
	return appendString(buf, string(info.ConnInfo))
}

// decoder reads fields in order; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errMalformed, nil }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) info() *broker.ClientInfo {
	if len(d.b) == 0 {
		d.fail()
		return nil
	}
	flag := d.b[0]
	d.b = d.b[1:]
	switch flag {
	case 0:
		return nil
	case 1:
	default:
		d.fail()
		return nil
	}
	info := &broker.ClientInfo{User: d.string(), Client: d.string()}
	if conn := d.bytes(); len(conn) > 0 {
		info.ConnInfo = append([]byte(nil), conn...)
	}
	if d.err != nil {
		return nil
	}
	return info
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) > 0 {
		return errMalformed
	}
	return d.err
}

// presenceValue is a presence entry: when it expires (unix ns, the adding
// node's clock) and who it is.
func encodePresence(expires int64, info *broker.ClientInfo) []byte {
	buf := binary.AppendVarint(make([]byte, 0, 16+len(info.User)+len(info.Client)+len(info.ConnInfo)), expires)
	return appendInfo(buf, info)
}

func decodePresence(b []byte) (int64, *broker.ClientInfo, error) {
	d := decoder{b: b}
	expires := d.varint()
	info := d.info()
	if err := d.done(); err != nil || info == nil {
		return 0, nil, errMalformed
	}
	return expires, info, nil
}

// Idempotency key states.
const (
	idemClaimed  = 'c' // a publisher is appending; others wait
	idemDone     = 'r' // the first publish's result
	idemReleased = 'x' // the claimant failed; the key is free
)

// idemValue is an idempotency key's state, expiry (unix ns) and, once
// done, the first result.
type idemValue struct {
	state   byte
	expires int64
	pos     broker.StreamPosition
}

func (v idemValue) encode() []byte {
	buf := []byte{v.state}
	buf = binary.AppendVarint(buf, v.expires)
	buf = binary.AppendUvarint(buf, v.pos.Offset)
	return appendString(buf, v.pos.Epoch)
}

func decodeIdem(b []byte) (idemValue, error) {
	if len(b) == 0 {
		return idemValue{}, errMalformed
	}
	v := idemValue{state: b[0]}
	d := decoder{b: b[1:]}
	v.expires = d.varint()
	v.pos.Offset = d.uvarint()
	v.pos.Epoch = d.string()
	return v, d.done()
}
