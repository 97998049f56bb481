package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDecodeKeys(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 2, Offset: 7, Value: []byte(`{"channel":"c","data":{"a":1}}`)}
	m, err := decode(r, "")
	if err != nil || m.Channel != "c" || string(m.Data) != `{"a":1}` || m.IdempotencyKey != "kafka:t:2:7" {
		t.Fatalf("%+v %v", m, err)
	}
	r.Value = []byte(`{"channel":"c","data":1,"idempotency_key":"k"}`)
	if m, _ := decode(r, ""); m.IdempotencyKey != "k" {
		t.Fatalf("envelope key: %q", m.IdempotencyKey)
	}
	r.Headers = []kgo.RecordHeader{{Key: HeaderIdempotencyKey, Value: []byte("h")}}
	if m, _ := decode(r, ""); m.IdempotencyKey != "h" {
		t.Fatalf("the header's key comes first: %q", m.IdempotencyKey)
	}
	// A mapped topic's value is the data, whatever it looks like.
	if m, _ := decode(r, "mapped"); m.Channel != "mapped" || string(m.Data) != string(r.Value) {
		t.Fatalf("mapped: %+v", m)
	}
}

// FuzzDecode: no value makes decode panic, and what it accepts names a
// channel, has data and an idempotency key.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"channel":"chat:a","data":{"x":[1,2]}}`,
		`{"channel":"chat:a","b64data":"AAE="}`,
		`{"channel":"chat:a","data":null,"b64data":null}`,
		`{"channel":1}`, `[]`, `null`, ``, `"x"`, `{"channel":"a","data":"x","idempotency_key":""}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte("raw"), "chat:h")
	f.Fuzz(func(t *testing.T, value []byte, header string) {
		r := &kgo.Record{Topic: "t", Value: value}
		if header != "" {
			r.Headers = []kgo.RecordHeader{{Key: HeaderChannel, Value: []byte(header)}}
		}
		m, err := decode(r, "")
		if err != nil {
			return
		}
		if m.Channel == "" || m.Data == nil || m.IdempotencyKey == "" {
			t.Fatalf("accepted %q as %+v", value, m)
		}
	})
}
