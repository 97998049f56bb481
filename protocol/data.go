package protocol

import (
	"bytes"

	fastjson "github.com/segmentio/encoding/json"
)

// What the JSON encoding carries inline. Publication data goes out as a JSON
// value under "data" only when it is valid JSON nested no deeper than the
// server's limit; anything else (bytes a Protobuf client or the API's
// b64data published, or JSON nested deeper) goes out base64-encoded under
// "b64". A JSON client may then parse every message it receives with any
// JSON parser's default nesting bound, whoever published.

// DefaultMaxDataDepth is the deepest nesting of arrays and objects the JSON
// encoding inlines for a Publication whose MaxDepth is 0; it is also the
// default of the server's limit (limits.max_data_depth).
const DefaultMaxDataDepth = 64

// MaxDataDepthCeiling is the largest depth limit a server may configure.
// Replies nest a publication's data a few levels deeper still, and JSON
// parsers stop at bounds of their own (encoding/json at 10,000, Python's at
// about 1,000).
const MaxDataDepthCeiling = 1000

// InlineJSON reports whether data may travel inline as a JSON value: it is
// valid JSON and its arrays and objects nest at most maxDepth deep. The
// depth is checked first and the check stops at the first bracket past
// maxDepth, so refusing deep data costs little whatever its size; and the
// validating parser, which recurses, never sees more than maxDepth levels.
func InlineJSON(data []byte, maxDepth int) bool {
	return startsLikeJSON(data) && !deeperThan(data, maxDepth) && fastjson.Valid(data)
}

// startsLikeJSON reports whether data's first byte other than whitespace
// may begin a JSON value. Most bytes that are not JSON (a Protobuf
// message, an image) fail here, which spares them the parser and the error
// it allocates to say so.
func startsLikeJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', '[', '"', '-', 't', 'f', 'n', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return true
		}
		return false
	}
	return false
}

// deeperThan reports whether b nests arrays and objects deeper than limit,
// ignoring brackets inside strings. On malformed input the answer is an
// estimate, which is enough: such data is not inlined anyway.
func deeperThan(b []byte, limit int) bool {
	// Nesting past the limit takes more than 2*limit bytes of brackets,
	// so small data cannot; and data with no more opening brackets than
	// the limit cannot either: two vectorised counts spare most payloads
	// the byte-by-byte scan.
	if len(b) <= 2*limit || bytes.Count(b, openBracket)+bytes.Count(b, openBrace) <= limit {
		return false
	}
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !structural[c] {
			continue
		}
		switch c {
		case '"':
			// Most strings are short: a byte loop finds their end
			// faster than a call; a long one is searched for its quote.
			end := min(len(b), i+32)
			for i++; i < end; i++ {
				if b[i] == '\\' {
					i++
				} else if b[i] == '"' {
					break
				}
			}
			if i >= end && i < len(b) {
				i = stringEnd(b, i)
			}
		case '[', '{':
			if depth++; depth > limit {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

var (
	openBracket = []byte{'['}
	openBrace   = []byte{'{'}
	// structural marks the bytes deeperThan acts on.
	structural = [256]bool{'"': true, '[': true, ']': true, '{': true, '}': true}
)

// stringEnd returns the index of the quote that closes a string, searching
// from b[i] (inside the string, not just after an escaping backslash), or
// len(b) when the string is unterminated.
func stringEnd(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		// The quote is escaped when an odd number of backslashes
		// precedes it.
		k := i
		for k > 0 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i
		}
		i++
	}
}
