// Package jsclient carries the browser bundle of Herald's JavaScript client,
// @heraldhq/client, built from the TypeScript in this directory. The bundle
// (dist/herald.min.js, a minified ES module) is committed, so that the
// binary serves it without Node.js or npm at build time: the demo imports
// it from here. (The admin UI speaks only the HTTP server API and carries
// no protocol client of its own.)
//
// A test rebuilds dist/ with npm and fails when the committed files differ
// from what the sources build to; the same package's tests run the
// client's integration and browser tests against a herald binary built from
// this repository.
package jsclient

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed dist/herald.min.js
var bundle []byte

// etag identifies the bundle's content, so that browsers revalidate it for
// the price of a 304.
var etag = func() string {
	sum := sha256.Sum256(bundle)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// Bundle returns the minified ES module (dist/herald.min.js). The slice is
// shared: do not modify it.
func Bundle() []byte { return bundle }

// Handler serves the bundle as JavaScript, whatever the request's path, with
// an ETag and "no-cache" (revalidate on every load), so that a page always
// runs the client of the binary that serves it.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "herald.min.js", time.Time{}, bytes.NewReader(bundle))
	})
}
