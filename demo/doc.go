// Package demo serves Herald's demo chat page at /demo/: a small chat in
// plain JavaScript over the browser's native WebSocket that doubles as the
// reference browser client of the wire protocol (connect with a token,
// rooms with presence and join/leave, publish, direct messages with inbox
// recovery, heartbeat, and reconnect with recovery after a server restart).
//
// # For development and demos only
//
// The page gets its identity from POST /demo/token, which signs a
// connection token for whatever name the visitor types. Anyone who can
// reach the endpoint can therefore act as any user, with the server's own
// token secret. Never mount this handler on a production server: enable it
// only in development mode or behind an explicit demo switch, on a server
// whose secret signs nothing else of value.
//
// The handler expects to be mounted at [Path] on the same origin as the
// WebSocket endpoint /ws. The namespace it chats in must allow
// authenticated users to subscribe and publish, and should keep presence,
// join/leave events, history and recovery for the page to show everything.
//
// A Handler is safe for concurrent use.
package demo
