package nats

import (
	"bytes"
	"testing"

	"github.com/heraldhq/herald/broker"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []*record{
		{kind: kindPub, offset: 7, epoch: "e", time: -5, seq: 9, prev: 8, ttl: 1000, life: 2000, size: 10,
			info: &broker.ClientInfo{User: "u", Client: "c", ConnInfo: []byte(`{}`)}, data: []byte("hello")},
		{kind: kindMarker, epoch: "e", life: 1},
		{kind: kindDirect, user: "bob", offset: 1, epoch: "x", data: []byte{0}},
		{kind: kindJoin, info: &broker.ClientInfo{User: "u", Client: "c"}},
		{kind: kindLeave, info: &broker.ClientInfo{}},
	} {
		got, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("%c: %v", r.kind, err)
		}
		if got.kind != r.kind || got.user != r.user || got.offset != r.offset || got.epoch != r.epoch ||
			got.time != r.time || got.seq != r.seq || got.prev != r.prev || got.ttl != r.ttl || got.life != r.life ||
			got.size != r.size || !bytes.Equal(got.data, r.data) || (got.info == nil) != (r.info == nil) ||
			got.info != nil && (got.info.User != r.info.User || got.info.Client != r.info.Client || !bytes.Equal(got.info.ConnInfo, r.info.ConnInfo)) {
			t.Fatalf("%+v came back as %+v", r, got)
		}
	}
}

// FuzzDecodeRecord: malformed input is an error, never a panic, and what
// decodes encodes back to a record that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	f.Add((&record{kind: kindPub, offset: 1, epoch: "e", info: &broker.ClientInfo{User: "u"}, data: []byte("d")}).encode())
	f.Add((&record{kind: kindDirect, user: "u", offset: 1}).encode())
	f.Add((&record{kind: kindJoin}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(r.encode())
		if err != nil || again.offset != r.offset || again.epoch != r.epoch || !bytes.Equal(again.data, r.data) {
			t.Fatalf("re-encoding %+v: %+v (%v)", r, again, err)
		}
	})
}

func TestTokenIsOneSubjectToken(t *testing.T) {
	for _, name := range []string{"", "a.b", "*", ">", "a b", "news:sport.*>"} {
		tok := token(name)
		if tok == "" || bytes.ContainsAny([]byte(tok), ".*> \t") {
			t.Fatalf("token(%q) = %q", name, tok)
		}
	}
}
