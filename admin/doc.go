// Package admin serves Herald's operator console at /admin/: a login page, a
// live dashboard of the cluster (nodes, channels, presence, history) with
// forms to publish, disconnect a user and change the log level, and the JSON
// API under /admin/api/ that the dashboard calls.
//
// Admin is off unless configured: New refuses an empty password. A browser
// logs in with the password and gets a session cookie (HttpOnly,
// SameSite=Strict, Secure over TLS or behind a proxy that says so) signed
// with a key made at start, so every session ends with the process. Scripts
// may instead send "Authorization: Bearer <password>". Failed guesses are
// rate limited per remote address: the TCP peer's, never X-Forwarded-For,
// which a guesser could forge. A browser that has logged in also keeps a
// device cookie, and its own attempts count under that instead, so guessing
// from an address it shares (behind a proxy, every user shares the proxy's)
// cannot lock it out.
//
// Requests that change something (publish, disconnect, log level, logout)
// made with the session cookie must also come from the console's own origin
// (Sec-Fetch-Site, Origin or Referer) and carry the X-Herald-Admin header,
// which no cross-site form can set and no cross-site script may send without
// a CORS preflight that this handler never grants. Bearer requests need
// neither: browsers never attach that header by themselves.
//
// The handler serves the paths under /admin/ and is safe for concurrent use.
package admin
