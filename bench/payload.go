package bench

import (
	"bytes"
	"strconv"
)

// A payload is a JSON object {"bt":SEND_UNIX_NS,"bs":SEQ,"bc":CLIENT,"p":"xxx"}
// padded with "p" to the requested size. The same bytes are the Herald
// publication's data and the raw protocol's whole text message, so both
// modes measure latency and loss the same way.

// payload builds one payload of at least size bytes.
func payload(sendNs int64, seq uint64, client int, size int) []byte {
	b := make([]byte, 0, max(size, 64))
	b = append(b, `{"bt":`...)
	b = strconv.AppendInt(b, sendNs, 10)
	b = append(b, `,"bs":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"bc":`...)
	b = strconv.AppendInt(b, int64(client), 10)
	b = append(b, `,"p":"`...)
	for len(b)+2 < size {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// fields are what a received message tells: the payload's stamps and,
// for Herald pushes, the channel and offset (0 without history).
type fields struct {
	sendNs  int64
	seq     uint64
	client  int
	offset  uint64
	channel string
}

// scanInt reads the unsigned integer after key in b (JSON, optional
// spaces after the colon). Scanning instead of decoding keeps thousands of
// subscribers cheap; the keys are our own and unambiguous.
func scanInt(b []byte, key string) (uint64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	i += len(key)
	for i < len(b) && (b[i] == ' ' || b[i] == ':') {
		i++
	}
	j := i
	var v uint64
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + uint64(b[j]-'0')
		j++
	}
	return v, j > i
}

// parsePayload reads the stamps of a payload (anywhere inside b).
func parsePayload(b []byte) (f fields, ok bool) {
	t, ok1 := scanInt(b, `"bt"`)
	s, ok2 := scanInt(b, `"bs"`)
	c, _ := scanInt(b, `"bc"`)
	return fields{sendNs: int64(t), seq: s, client: int(c)}, ok1 && ok2
}
