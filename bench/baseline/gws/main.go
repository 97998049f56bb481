// Command gws is the floor of Herald's overhead: a hub on the same
// WebSocket library (github.com/lxzan/gws) in which every text message a
// client sends is broadcast to every connection, the sender included, and
// nothing else happens: no protocol, no auth, no origin check, no channels.
//
//	go run ./bench/baseline/gws -addr :9001 [-pprof localhost:6060]
//
// Connections are accepted at /ws; messages over 64 KiB close the sender's
// connection with 1009.
package main

import "github.com/heraldhq/herald/bench/baseline/internal/serve"

func main() {
	serve.Main("gws", ":9001", func() serve.Hub { return newHub() })
}
