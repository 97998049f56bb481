package redis

import (
	"bytes"
	"testing"

	"github.com/heraldhq/herald/broker"
)

func TestTagIsInjective(t *testing.T) {
	seen := make(map[string]string)
	for _, name := range []string{"", "%", "}", "%7D", "a}b", "a%7Db", "a{b}", "{", "%25", "plain"} {
		tg := tag(name)
		if tg == "" || bytes.ContainsRune([]byte(tg), '}') {
			t.Fatalf("tag(%q) = %q: not a valid hash tag", name, tg)
		}
		if other, ok := seen[tg]; ok {
			t.Fatalf("%q and %q share the tag %q", name, other, tg)
		}
		seen[tg] = name
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, pub := range []*broker.Publication{
		{Data: []byte("hello")},
		{Data: nil, Info: &broker.ClientInfo{User: "u", Client: "c", ConnInfo: []byte(`{"a":1}`)}},
		{Data: []byte{0, 1, ':', 0xff}, Info: &broker.ClientInfo{Client: "only-client"}},
	} {
		// What the publish script builds around the body.
		msg := "7:abc:1700000000000:" + string(encodeBody(pub))
		got, pos, err := decodeDelivery(msg)
		if err != nil || pos != (broker.StreamPosition{Offset: 7, Epoch: "abc"}) || got.Offset != 7 || got.Time != 1700000000000 ||
			!bytes.Equal(got.Data, pub.Data) || (got.Info == nil) != (pub.Info == nil) {
			t.Fatalf("%+v came back as %+v at %+v (%v)", pub, got, pos, err)
		}
		if pub.Info != nil && (got.Info.User != pub.Info.User || got.Info.Client != pub.Info.Client || !bytes.Equal(got.Info.ConnInfo, pub.Info.ConnInfo)) {
			t.Fatalf("info %+v came back as %+v", pub.Info, got.Info)
		}
	}
}

// FuzzDecode: no message, however malformed, panics the reader.
func FuzzDecode(f *testing.F) {
	f.Add("1:e:5:" + string(encodeBody(&broker.Publication{Data: []byte("x"), Info: &broker.ClientInfo{User: "u"}})))
	f.Add("0::0:\x00")
	f.Add("\x01\x05ab")
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = decodeDelivery(s)
		_, _, _ = decodeInfo(s)
		_, _, _ = readString(s)
	})
}
