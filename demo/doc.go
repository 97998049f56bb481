// Package demo serves Herald's demo chat page at /demo/: a small chat in
// plain JavaScript on Herald's JavaScript client, @heraldhq/client (rooms
// with presence and join/leave, recent history, publish, direct messages
// with inbox recovery, and reconnects that recover every missed message
// after a server restart). The page imports the client's browser bundle,
// which the handler serves at /demo/herald.min.js from the binary
// (package jsclient): the demo is also a working example of the client in
// a page.
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
