package protocol

import (
	"encoding/json"
	"strconv"
)

// The JSON encoding of replies: {"id":N,"result":{...}}. The results that
// carry publications, the only large ones, are appended in place: through
// encoding/json each publication would be built, then checked and copied,
// then copied again with the body. The others are encoding/json's
// rendering of their struct tags.

func (jsonCodec) appendReply(buf []byte, id uint32, _ string, result Result) ([]byte, error) {
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendUint(buf, uint64(id), 10)
	buf = append(buf, `,"result":`...)
	buf, err := result.appendJSON(buf)
	if err != nil {
		return buf, err
	}
	return append(buf, '}'), nil
}

// appendMarshalled appends encoding/json's rendering of v.
func appendMarshalled(buf []byte, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return buf, err
	}
	return append(buf, body...), nil
}

func (r *ConnectResult) appendJSON(buf []byte) ([]byte, error)       { return appendMarshalled(buf, r) }
func (r *EmptyResult) appendJSON(buf []byte) ([]byte, error)         { return appendMarshalled(buf, r) }
func (r *PublishResult) appendJSON(buf []byte) ([]byte, error)       { return appendMarshalled(buf, r) }
func (r *PresenceResult) appendJSON(buf []byte) ([]byte, error)      { return appendMarshalled(buf, r) }
func (r *PresenceStatsResult) appendJSON(buf []byte) ([]byte, error) { return appendMarshalled(buf, r) }
func (r *RefreshResult) appendJSON(buf []byte) ([]byte, error)       { return appendMarshalled(buf, r) }

// appendJSON appends a history result as encoding/json would marshal it,
// but for an absent list of publications, which is an empty one.
func (r *HistoryResult) appendJSON(buf []byte) ([]byte, error) {
	buf = append(buf, `{"publications":`...)
	buf = appendJSONPublications(buf, r.Publications, true)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendUint(buf, r.Offset, 10)
	buf = append(buf, `,"epoch":`...)
	buf = AppendString(buf, r.Epoch)
	return append(buf, '}'), nil
}

// appendJSON appends a subscribe result as encoding/json would marshal it.
func (r *SubscribeResult) appendJSON(buf []byte) ([]byte, error) {
	buf = append(buf, `{"offset":`...)
	buf = strconv.AppendUint(buf, r.Offset, 10)
	buf = append(buf, `,"epoch":`...)
	buf = AppendString(buf, r.Epoch)
	if r.Recovered != nil {
		buf = append(buf, `,"recovered":`...)
		buf = strconv.AppendBool(buf, *r.Recovered)
	}
	if len(r.Publications) > 0 {
		buf = append(buf, `,"publications":`...)
		buf = appendJSONPublications(buf, r.Publications, false)
	}
	if r.More {
		buf = append(buf, `,"more":true`...)
	}
	if r.Error != nil {
		e, err := json.Marshal(r.Error)
		if err != nil {
			return buf, err
		}
		buf = append(buf, `,"error":`...)
		buf = append(buf, e...)
	}
	return append(buf, '}'), nil
}

// appendJSONPublications appends a list of pub objects; nil appends null
// unless empty says an empty list.
func appendJSONPublications(buf []byte, pubs []*Publication, empty bool) []byte {
	if pubs == nil && !empty {
		return append(buf, `null`...)
	}
	buf = append(buf, '[')
	for i, p := range pubs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"offset":`...)
		buf = strconv.AppendUint(buf, p.Offset, 10)
		buf = appendDataInfoTime(buf, p)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}
