package kafka

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/consume"
)

// The record headers a producer may set instead of the JSON envelope.
const (
	// HeaderChannel names the channel; the record's value is then the
	// data, as it is.
	HeaderChannel = "herald-channel"
	// HeaderIdempotencyKey gives the publication's idempotency key, in
	// every form of record.
	HeaderIdempotencyKey = "herald-idempotency-key"
)

// envelope is a record value that says where to publish: the body of the
// server API's publish, whose field names it shares.
type envelope struct {
	Channel        string          `json:"channel"`
	Data           json.RawMessage `json:"data"`
	B64Data        *string         `json:"b64data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

var (
	errNoChannel = errors.New("no channel: set the herald-channel header, map the topic to a channel, or send a JSON envelope with a channel")
	errBothData  = errors.New("envelope has both data and b64data")
	errNoData    = errors.New("envelope has neither data nor b64data")
)

// decode turns a record into a publication. channel is the topic's
// configured channel ("" when the topic is not mapped). The idempotency key
// is the herald-idempotency-key header, the envelope's, or else one made
// of the record's topic, partition and offset, which is the same every
// time the record is read: a record read again after a crash or a
// restart, before its offset was committed, is then not delivered twice.
func decode(r *kgo.Record, channel string) (consume.Message, error) {
	var m consume.Message
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderChannel:
			if channel == "" {
				m.Channel = string(h.Value)
			}
		case HeaderIdempotencyKey:
			m.IdempotencyKey = string(h.Value)
		}
	}
	if channel != "" {
		m.Channel = channel
	}
	if m.Channel != "" {
		m.Data = r.Value
	} else {
		var env envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			if len(bytes.TrimSpace(r.Value)) == 0 || r.Value[0] != '{' {
				return m, errNoChannel
			}
			return m, err
		}
		if env.Channel == "" {
			return m, errNoChannel
		}
		m.Channel = env.Channel
		hasData := len(env.Data) > 0 && !bytes.Equal(env.Data, []byte("null"))
		switch {
		case hasData && env.B64Data != nil:
			return m, errBothData
		case hasData:
			m.Data = env.Data
		case env.B64Data != nil:
			data, err := base64.StdEncoding.DecodeString(*env.B64Data)
			if err != nil {
				return m, err
			}
			m.Data = data
		default:
			return m, errNoData
		}
		if m.IdempotencyKey == "" {
			m.IdempotencyKey = env.IdempotencyKey
		}
	}
	if m.Data == nil {
		return m, errNoData // a tombstone: nothing to publish
	}
	if m.IdempotencyKey == "" {
		m.IdempotencyKey = DefaultKey(r.Topic, r.Partition, r.Offset)
	}
	return m, nil
}

// DefaultKey is the idempotency key of a record that brings none:
// "kafka:<topic>:<partition>:<offset>".
func DefaultKey(topic string, partition int32, offset int64) string {
	b := make([]byte, 0, len("kafka:")+len(topic)+24)
	b = append(b, "kafka:"...)
	b = append(b, topic...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, offset, 10)
	return string(b)
}
