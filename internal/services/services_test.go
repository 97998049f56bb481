package services

import (
	"net"
	"testing"
)

func TestProcessesRestartOnTheirPort(t *testing.T) {
	for name, start := range map[string]func(testing.TB, ...string) *Process{"redis": StartRedis, "nats": StartNATS} {
		t.Run(name, func(t *testing.T) {
			p := start(t)
			p.Stop()
			if c, err := net.Dial("tcp", p.Addr()); err == nil {
				c.Close()
				t.Fatal("still listening after Stop")
			}
			p.Start()
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatalf("not listening after a restart: %v", err)
			}
			c.Close()
		})
	}
}

func TestSharedServices(t *testing.T) {
	Redis(t)
	NATS(t)
}
