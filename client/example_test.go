package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/heraldhq/herald/client"
)

func ExampleDial() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://localhost:8000/ws", client.Options{
		Token: "<a connection JWT from your backend>",
		OnState: func(s client.StateChange) {
			log.Printf("herald: %v (%d %s)", s.State, s.Code, s.Reason)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Subscribe(ctx, "chat:lobby", client.SubscribeOptions{
		OnMessage: func(m client.Message) { fmt.Printf("#%d %s\n", m.Offset, m.Data) },
		OnRecoveryLost: func(r client.RecoveryLost) {
			log.Printf("missed messages on %s could not be recovered: reload", r.Channel)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Publish(ctx, "chat:lobby", []byte(`{"text":"hi"}`)); err != nil {
		log.Fatal(err)
	}
}
