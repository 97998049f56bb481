package server_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/protocol"
	"github.com/heraldhq/herald/server"
)

// openFDs counts the process's open file descriptors, or returns -1 where
// /proc does not list them.
func openFDs() int {
	e, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(e)
}

// fdsBackTo waits until the process holds no more descriptors than before.
func fdsBackTo(t *testing.T, baseline int) {
	t.Helper()
	if baseline < 0 {
		t.Log("no /proc/self/fd: descriptors not checked")
		return
	}
	ht.Eventually(t, 10*time.Second, func() bool { return openFDs() <= baseline }, "descriptors back to %d (now %d)", baseline, openFDs())
}

// slowClient is a connection that has sent a request's headers and is
// sending its body a byte at a time.
type slowClient struct {
	conn   net.Conn
	status string // the response's status line, once closed
	header string // the response's header block, once closed
	closed chan struct{}
}

// openSlow sends head (request line and headers, without the blank line)
// on conn with Content-Length: length and the first body byte, and starts
// reading what the server answers until it closes the connection.
func openSlow(t *testing.T, conn net.Conn, head string, length int) *slowClient {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "%s\r\nHost: x\r\nContent-Length: %d\r\n\r\n{", head, length); err != nil {
		t.Fatalf("write: %v", err)
	}
	c := &slowClient{conn: conn, closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		r := bufio.NewReader(conn)
		c.status, _ = r.ReadString('\n')
		var h strings.Builder
		for {
			line, err := r.ReadString('\n')
			h.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		c.header = h.String()
		_, _ = io.Copy(io.Discard, r)
	}()
	return c
}

// isClosed reports whether the server has closed c.
func (c *slowClient) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// trickle sends one more body byte on each client that is still open
// every interval until the test ends, as a slowloris does.
func trickle(t *testing.T, clients []*slowClient, interval time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range clients {
				if !c.isClosed() {
					_, _ = c.conn.Write([]byte(" "))
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// TestSlowRequestBodies: fifty clients send full headers declaring a
// body, then a byte of it every 50 ms, on paths that refuse them at once
// and on one that reads the body. Every connection is closed, the refused
// ones with their answer and the reading one once RequestBodyTimeout has
// passed, and the server's connections and descriptors return to where
// they were.
func TestSlowRequestBodies(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{RequestBodyTimeout: 300 * time.Millisecond}})
	baseline := openFDs()
	heads := []struct{ head, status string }{
		{"POST /api/publish HTTP/1.1", "401"},
		{"POST /api/publish HTTP/1.1\r\nAuthorization: apikey " + ht.APIKey, "408"}, // read until the bound
		{"POST /nonexistent HTTP/1.1", "404"},
		{"GET /healthz HTTP/1.1", "200"},
		{"PUT /readyz HTTP/1.1", "405"},
	}
	var clients []*slowClient
	for i := range 50 {
		h := heads[i%len(heads)]
		clients = append(clients, openSlow(t, dialTCP(t, s.Addr()), h.head, 4000))
	}
	trickle(t, clients, 50*time.Millisecond)
	for i, c := range clients {
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d (%s) still open", i, heads[i%len(heads)].head)
		}
		want := heads[i%len(heads)].status
		if !strings.HasPrefix(c.status, "HTTP/1.1 "+want) || !strings.Contains(c.header, "Connection: close") {
			t.Fatalf("client %d (%s): %q %q, want %s and Connection: close", i, heads[i%len(heads)].head, c.status, c.header, want)
		}
	}
	ht.Eventually(t, 5*time.Second, func() bool { n, _ := s.Server.HTTPConnections(); return n == 0 }, "no HTTP connections left")
	for _, c := range clients {
		c.conn.Close()
	}
	fdsBackTo(t, baseline)
	s.StillServes(t)
}

// earlyRefusals are requests the server answers without reading their
// body, with the server options they need.
var earlyRefusals = []struct {
	name, head string
	length     int
	status     string
}{
	{"401", "POST /api/publish HTTP/1.1", 4000, "401"},
	// Under net/http's 256 KiB drain allowance.
	{"401 large", "POST /api/publish HTTP/1.1", 200_000, "401"},
	{"403", "POST /api/publish HTTP/1.1\r\nX-Test: outside", 4000, "403"},
	{"404", "POST /nonexistent HTTP/1.1", 4000, "404"},
	{"405", "PUT /healthz HTTP/1.1", 4000, "405"},
	{"413", "POST /api/publish HTTP/1.1\r\nAuthorization: apikey " + ht.APIKey, 4000, "413"},
}

// checkEarlyRefusal sends a refused request's headers and one body byte
// on conn, reads the answer and then expects the server to close the
// connection rather than wait for the body. The 10 s read deadline only
// ends a failing test: RequestBodyTimeout is a minute.
func checkEarlyRefusal(t *testing.T, conn net.Conn, head string, length int, body int, status string) {
	t.Helper()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "%s\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", head, length, (`{"data":"` + strings.Repeat("x", body))[:body])
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("%s: no answer: %v", head, err)
	}
	if !strings.HasPrefix(resp.Status, status) || !resp.Close {
		t.Fatalf("%s: %s, close %v; want %s and Connection: close", head, resp.Status, resp.Close, status)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("%s: connection not closed after the answer: %v", head, err)
	}
}

// TestEarlyRefusalCloses: a request refused before its body is read is
// answered at once and its connection closed, over plain TCP and TLS,
// instead of the server waiting for a body that comes a byte at a time.
func TestEarlyRefusalCloses(t *testing.T) {
	cfg := server.Config{
		APIKeys:            []string{ht.APIKey},
		RequestBodyTimeout: time.Minute,
		APIBodySize:        1024,
		// 127.0.0.1 may call the API; 127.0.0.2 may not.
		APIAllowedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	dialFrom := func(r string) *net.Dialer {
		ip := "127.0.0.1"
		if strings.Contains(r, "X-Test: outside") {
			ip = "127.0.0.2"
		}
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	}
	t.Run("tcp", func(t *testing.T) {
		s := ht.Start(t, ht.Options{Server: cfg})
		for _, c := range earlyRefusals {
			t.Run(c.name, func(t *testing.T) {
				conn, err := dialFrom(c.head).Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				body := 1
				if c.status == "413" {
					body = 2000 // past APIBodySize: the handler reads and refuses
				}
				checkEarlyRefusal(t, conn, c.head, c.length, body, c.status)
			})
		}
		s.StillServes(t)
	})
	t.Run("tls", func(t *testing.T) {
		f := startTLS(t, tlsSetup{server: cfg})
		tc := &tls.Config{RootCAs: f.ca.Pool, ServerName: "localhost"}
		for _, c := range earlyRefusals {
			t.Run(c.name, func(t *testing.T) {
				conn, err := tls.DialWithDialer(dialFrom(c.head), "tcp", f.addr, tc)
				if err != nil {
					t.Fatal(err)
				}
				body := 1
				if c.status == "413" {
					body = 2000
				}
				checkEarlyRefusal(t, conn, c.head, c.length, body, c.status)
			})
		}
		newWSSClient(t, f).dial(t, f)
	})
}

// TestHTTPReserve: with the HTTP connections at their cap (clients that
// connected and send nothing), a plain HTTP request is answered 503 and
// closed, while health checks and WebSocket clients still get in from the
// reserve; past the reserve, connections are closed unread; and once the
// holders go, everything is served again.
func TestHTTPReserve(t *testing.T) {
	const limit, reserve = 20, 20/4 + 16
	s := ht.Start(t, ht.Options{Server: server.Config{
		MaxHTTPConnections: limit, MaxHTTPConnectionsPerIP: 1000, ReadHeaderTimeout: time.Minute,
	}})
	baseline := openFDs()
	var holders []net.Conn
	hold := func(n int) {
		for range n {
			c := dialTCP(t, s.Addr())
			t.Cleanup(func() { c.Close() })
			holders = append(holders, c)
		}
	}
	counted := func(total, probation int) {
		t.Helper()
		ht.Eventually(t, 5*time.Second, func() bool {
			n, p := s.Server.HTTPConnections()
			return n == total && p == probation
		}, "%d HTTP connections, %d on probation", total, probation)
	}
	hold(limit)
	counted(limit, 0)

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var body []byte // of the last answer
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, nil)
		if path == "/healthz" || path == "/readyz" {
			req.Method = http.MethodGet
		}
		req.Header.Set("Authorization", "apikey "+ht.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/api/info"); r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || !r.Close {
		t.Fatalf("API call past the cap: %d %v", r.StatusCode, r.Header)
	}
	checkAPIError(t, "API call past the cap", body, protocol.CodeTooManyRequests)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := get(p); r.StatusCode != http.StatusOK || !r.Close {
			t.Fatalf("%s past the cap: %d, close %v", p, r.StatusCode, r.Close)
		}
	}
	ws, _ := s.Connect(t, ht.Token(t, "u", nil))
	counted(limit, 0) // the probation connections went: closed or hijacked

	hold(reserve)
	counted(limit+reserve, reserve)
	over := dialTCP(t, s.Addr())
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := over.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("a connection past the reserve was served: %d bytes, %v", n, err)
	}
	over.Close()
	if r := ws.Call(map[string]any{"type": "subscribe", "channel": "chat:r"}); r.ErrorCode() != 0 {
		t.Fatalf("WebSocket client while HTTP is full: %v", r)
	}

	for _, c := range holders {
		c.Close()
	}
	counted(0, 0)
	if r := get("/api/info"); r.StatusCode != http.StatusOK {
		t.Fatalf("API call after the holders left: %d", r.StatusCode)
	}
	client.CloseIdleConnections()
	ws.Conn.CloseNow()
	counted(0, 0)
	fdsBackTo(t, baseline)
}

// TestHTTPReservePerAddress: one address may take only a sixteenth of its
// MaxHTTPConnectionsPerIP from the reserve, so it cannot fill the reserve
// alone and shut out others' WebSocket clients and health checks.
func TestHTTPReservePerAddress(t *testing.T) {
	s := ht.Start(t, ht.Options{Server: server.Config{
		MaxHTTPConnections: 4, MaxHTTPConnectionsPerIP: 32, ReadHeaderTimeout: time.Minute,
	}})
	from := func(ip string) net.Conn {
		t.Helper()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// 4 to fill the cap, and 32/16+1 = 3 from the reserve.
	for range 4 + 3 {
		from("127.0.0.2")
	}
	ht.Eventually(t, 5*time.Second, func() bool { n, p := s.Server.HTTPConnections(); return n == 7 && p == 3 }, "7 counted, 3 on probation")
	over := from("127.0.0.2")
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(over, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := over.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("a fourth reserve connection from one address was served: %d bytes, %v", n, err)
	}
	other := from("127.0.0.3")
	_ = other.SetReadDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(other, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if line, _ := bufio.NewReader(other).ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("health check from another address: %q", line)
	}
}
