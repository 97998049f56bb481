// Command gobwas is the floor of Herald's overhead on Herald's own
// WebSocket framing library (github.com/gobwas/ws): a hub in which every
// text message a client sends is broadcast to every connection, the sender
// included, and nothing else happens: no protocol, no auth, no origin
// check, no channels, no queues.
//
//	go run ./bench/baseline/gobwas -addr :9003 [-pprof localhost:6060]
//
// Connections are accepted at /ws; messages over 64 KiB close the sender's
// connection with 1009.
package main

import "github.com/heraldhq/herald/bench/baseline/internal/serve"

func main() {
	serve.Main("gobwas", ":9003", func() serve.Hub { return newHub() })
}
