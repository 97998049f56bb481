// Command gorilla is the classic goroutine-per-connection WebSocket hub,
// built on github.com/gorilla/websocket as its chat example is: a reader
// and a writer goroutine per connection and one broadcast loop. Every text
// message a client sends goes to every connection, the sender included, and
// nothing else happens. It is the comparison target for Herald's design.
//
//	go run ./bench/baseline/gorilla -addr :9002 [-pprof localhost:6061]
//
// Connections are accepted at /ws; messages over 64 KiB close the sender's
// connection with 1009.
package main

import "github.com/heraldhq/herald/bench/baseline/internal/serve"

func main() {
	serve.Main("gorilla", ":9002", func() serve.Hub { return newHub() })
}
