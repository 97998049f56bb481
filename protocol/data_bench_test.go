package protocol

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkInlineJSON is the check the JSON encoding makes on data not
// marked JSON (a Protobuf client's or the API's, or any that came back from
// a broker without the mark): once per publication and node for live
// delivery, once per publication and reply for history.
func BenchmarkInlineJSON(b *testing.B) {
	var objects strings.Builder
	objects.WriteString("[")
	for i := 0; objects.Len() < 16<<10; i++ {
		if i > 0 {
			objects.WriteString(",")
		}
		fmt.Fprintf(&objects, `{"id":%d,"tags":["a","b"],"text":"item \"%d\""}`, i, i)
	}
	objects.WriteString("]")
	cases := []struct {
		name string
		data []byte
		want bool
	}{
		{"object/1KiB", jsonPayload(1 << 10), true},
		{"object/16KiB", jsonPayload(16 << 10), true},
		{"array-of-objects/16KiB", []byte(objects.String()), true},
		{"deep/1MiB", nested(1 << 19), false},
		{"binary/16KiB", make([]byte, 16<<10), false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if InlineJSON(tc.data, DefaultMaxDataDepth) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
