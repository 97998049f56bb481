package demo_test

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/demo"
	"github.com/heraldhq/herald/internal/browsertest"
	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/server"
)

// readmeServerURL is the server address the README's browser snippet
// connects to; the test points it at its own server.
const readmeServerURL = "'ws://localhost:8000/ws'"

// TestReadmeFromABrowser runs the README's "From a browser" snippet, as it
// is written there, in headless Chromium against a real server: an import
// map resolves '@heraldhq/client' to the bundle the demo serves, the
// snippet's server URL becomes the page's own server, and /herald-token (the
// snippet's backend) mints alice's token. The snippet must connect,
// subscribe, and log alice's own message.
func TestReadmeFromABrowser(t *testing.T) {
	browsertest.Require(t)
	snippet := readmeSnippet(t, "## From a browser")
	if !strings.Contains(snippet, readmeServerURL) {
		t.Fatalf("the README's browser snippet no longer connects to %s: update this test\n%s", readmeServerURL, snippet)
	}
	h, err := demo.New(demo.Options{TokenSecret: []byte(ht.Secret)})
	if err != nil {
		t.Fatal(err)
	}
	token := ht.Token(t, "alice", nil)
	srv := ht.Start(t, ht.Options{Server: server.Config{Pages: map[string]http.Handler{
		demo.Path: h,
		"GET /herald-token": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, token)
		}),
		"GET /readme/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<script type="importmap">{"imports": {"@heraldhq/client": "`+demo.Path+demo.BundleFile+`"}}</script>
<script type="module">
`+strings.ReplaceAll(snippet, readmeServerURL, "'ws://"+r.Host+"/ws'")+`
</script>`)
		}),
	}}})
	browsertest.Run(t, "testdata/readme.cjs", time.Minute, "URL="+srv.URL+"/readme/", "WANT=alice hi")
}

// readmeSnippet returns the first js code block of the README's section
// with this heading.
func readmeSnippet(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	m := regexp.MustCompile("(?s)\n```js\n(.*?)\n```\n").FindStringSubmatch(section)
	if m == nil {
		t.Fatalf("README.md's section %q has no js code block", heading)
	}
	return m[1]
}
