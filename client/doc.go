// Package client is the Go SDK for Herald: a connection that authenticates,
// subscribes, publishes and sends direct messages, and that survives network
// cuts and server restarts by reconnecting with backoff and recovering every
// subscription exactly where it left off.
//
//	c, err := client.Dial(ctx, "ws://localhost:8000/ws", client.Options{Token: token})
//	if err != nil { ... }
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, "chat:lobby", client.SubscribeOptions{
//		OnMessage: func(m client.Message) { fmt.Printf("%s\n", m.Data) },
//	})
//	_, err = c.Publish(ctx, "chat:lobby", []byte(`{"text":"hi"}`))
//
// # Concurrency
//
// All methods may be called concurrently. Handlers (OnMessage, OnJoin,
// OnLeave, OnRecoveryLost, OnDirect, OnState) run on the client's reader
// goroutine, one at a time and in the order the server sent the events; they
// must not block and must not call the client's methods synchronously. After
// a reconnect, OnState with StateConnected comes first, then what the new
// connection recovered (OnMessage, OnDirect, OnRecoveryLost), then the live
// stream.
//
// # Delivery guarantees
//
// For a channel with history, OnMessage sees every publication exactly once
// and in offset order across reconnects, as long as the server still has the
// missed publications. When it does not (the history was trimmed or the
// stream's epoch changed), OnRecoveryLost is called before the live stream
// resumes, so the application can reload its state instead of showing a gap.
//
// However much was missed, recovery arrives in bounded pages (the server
// sends the rest as pushes after a subscribe result with more set); the
// client delivers them like live publications. A publication whose offset
// skips ahead is never delivered: the subscription resubscribes from its
// last offset (a direct message that skips ahead makes the client
// reconnect, the only way to recover an inbox). A resubscribe the server
// keeps refusing with temporary errors is retried with backoff, then, after
// Options.RecoveryRetries, reported through OnRecoveryLost and continued
// from the present.
package client
