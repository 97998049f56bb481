package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

// TestServeWiresEdgeLimits: serve hands the HTTP connection caps, the
// request body timeout, the admin cookie setting and the connect timeout
// (for /echo) to the server and the console.
func TestServeWiresEdgeLimits(t *testing.T) {
	const password = "admin-password-0123456789"
	_, addr, _ := startServeEnv(t, []string{
		"HERALD_ADMIN_PASSWORD=" + password,
		"HERALD_ADMIN_SECURE_COOKIE=true",
		"HERALD_LIMITS_MAX_HTTP_CONNECTIONS_PER_IP=4",
		"HERALD_LIMITS_REQUEST_BODY_TIMEOUT=200ms",
		"HERALD_CONNECT_TIMEOUT=200ms",
	})

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm("http://"+addr+"/admin/login", url.Values{"password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) == 0 || !cs[0].Secure {
		t.Fatalf("login over plain HTTP with admin.secure_cookie: %d, cookies %v", resp.StatusCode, cs)
	}

	// A login form that never finishes is cut off.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_ = slow.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(slow, "POST /admin/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\npass")
	if _, err := io.Copy(io.Discard, slow); err != nil {
		t.Fatalf("slow body not cut off: %v", err)
	}

	// /echo (on in dev mode) closes a connection that says nothing.
	raw := ht.DialRaw(t, addr, "/echo", nil)
	if code, _ := raw.ReadUntilClose(5 * time.Second); code != 4500 {
		t.Fatalf("silent /echo closed with %d, want 4500", code)
	}

	// Four connections from one address are all it may hold. They come
	// from 127.0.0.2, so that the connections above, which the server may
	// not have counted out yet, do not share their allowance.
	from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	for range 4 {
		c, err := from.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// All four are counted once the server has accepted them; until then
	// the probe may be served, so it is retried.
	ht.Eventually(t, 5*time.Second, func() bool {
		c, err := from.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(c)
		return len(b) == 0
	}, "a fifth connection from the address closed unread")
}
