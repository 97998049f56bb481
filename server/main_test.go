package server_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// inboxOpts keeps ten direct messages per user for an hour.
var inboxOpts = broker.StreamOptions{Size: 10, TTL: time.Hour}

// rawHTTP sends a request by hand and returns the first line of the answer.
func rawHTTP(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return line
}
