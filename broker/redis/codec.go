package redis

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/broker"
)

// Encodings, shared by Go and the Lua scripts, which only ever prepend
// headers in decimal text and never look inside a body:
//
//	info     = 0x00 (none) | 0x01 uvarint-len user, client, conninfo
//	body     = info data                        (built by Go)
//	entry    = <time ms> ":" body               (stream field "d")
//	message  = "p" <offset> ":" <epoch> ":" entry      publication
//	         | "d" uvarint-len user <offset> ":" <epoch> ":" entry  direct
//	         | "j" info | "l" info               join, leave
//	presence = info                             (presence hash value)
//
// One message is decoded once per node, whatever the number of local
// subscribers.

const (
	msgPublication = 'p'
	msgDirect      = 'd'
	msgJoin        = 'j'
	msgLeave       = 'l'
)

var errMalformed = errors.New("redis: malformed message")

// appendInfo appends the info encoding.
func appendInfo(buf []byte, info *broker.ClientInfo) []byte {
	if info == nil {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = appendString(buf, info.User)
	buf = appendString(buf, info.Client)
	return appendString(buf, string(info.ConnInfo))
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// encodeBody is a publication's info and data, what the scripts store and
// deliver.
func encodeBody(pub *broker.Publication) []byte {
	n := 1 + len(pub.Data)
	if pub.Info != nil {
		n += 3*binary.MaxVarintLen32 + len(pub.Info.User) + len(pub.Info.Client) + len(pub.Info.ConnInfo)
	}
	return append(appendInfo(make([]byte, 0, n), pub.Info), pub.Data...)
}

// readString reads one length-prefixed string from s.
func readString(s string) (string, string, error) {
	n, k := uvarint(s)
	if k <= 0 || uint64(len(s)-k) < n {
		return "", "", errMalformed
	}
	return s[k : k+int(n)], s[k+int(n):], nil
}

// uvarint is binary.Uvarint on a string, sparing a copy to []byte.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// decodeInfo reads an info encoding and returns what follows it.
func decodeInfo(s string) (*broker.ClientInfo, string, error) {
	if s == "" {
		return nil, "", errMalformed
	}
	if s[0] == 0 {
		return nil, s[1:], nil
	}
	var info broker.ClientInfo
	var conn string
	var err error
	s = s[1:]
	if info.User, s, err = readString(s); err != nil {
		return nil, "", err
	}
	if info.Client, s, err = readString(s); err != nil {
		return nil, "", err
	}
	if conn, s, err = readString(s); err != nil {
		return nil, "", err
	}
	if conn != "" {
		info.ConnInfo = []byte(conn)
	}
	return &info, s, nil
}

// decodeEntry reads "<time>:<body>" into a publication at offset.
func decodeEntry(s string, offset uint64) (*broker.Publication, error) {
	ts, body, ok := strings.Cut(s, ":")
	if !ok {
		return nil, errMalformed
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errMalformed
	}
	info, data, err := decodeInfo(body)
	if err != nil {
		return nil, err
	}
	return &broker.Publication{Offset: offset, Data: []byte(data), Info: info, Time: t}, nil
}

// decodePosition reads "<offset>:<epoch>", as the scripts return and store
// positions.
func decodePosition(s string) (broker.StreamPosition, string, error) {
	os, rest, ok := strings.Cut(s, ":")
	if !ok {
		return broker.StreamPosition{}, "", errMalformed
	}
	o, err := strconv.ParseUint(os, 10, 64)
	if err != nil {
		return broker.StreamPosition{}, "", errMalformed
	}
	epoch, rest, _ := strings.Cut(rest, ":")
	return broker.StreamPosition{Offset: o, Epoch: epoch}, rest, nil
}

// decodeDelivery reads a publication message after its kind byte (and, for
// a direct message, the user): position, then entry.
func decodeDelivery(s string) (*broker.Publication, broker.StreamPosition, error) {
	pos, entry, err := decodePosition(s)
	if err != nil {
		return nil, pos, err
	}
	pub, err := decodeEntry(entry, pos.Offset)
	return pub, pos, err
}

// entryOffset reads the offset from a stream entry ID "<offset>-<expiry>".
func entryOffset(id string) (uint64, error) {
	o, _, _ := strings.Cut(id, "-")
	return strconv.ParseUint(o, 10, 64)
}
