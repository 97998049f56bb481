package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestFrameInTheUpgradePacket: a client may send its first frame right
// behind its upgrade request, before the 101 arrives; those bytes sit in the
// HTTP server's read buffer and must still reach the hub.
func TestFrameInTheUpgradePacket(t *testing.T) {
	s := ht.Start(t, ht.Options{Hub: hub.Config{Anonymous: true}})
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	payload := []byte(`{"id":1,"type":"connect"}`)
	mask := [4]byte{1, 2, 3, 4}
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil || head[0] != 0x81 || head[1] >= 126 {
		t.Fatalf("reply frame header % x: %v", head, err)
	}
	reply := make([]byte, head[1])
	if _, err := io.ReadFull(br, reply); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reply), `"id":1`) || !strings.Contains(string(reply), `"client"`) {
		t.Fatalf("connect reply %s", reply)
	}
}
