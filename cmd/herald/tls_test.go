package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	ht "github.com/heraldhq/herald/internal/heraldtest"
	"github.com/heraldhq/herald/tlsconfig/tlstest"
)

// TestServeTLSReloadsOnSIGHUP runs herald serve with TLS: clients connect
// over wss; after the certificate files change, SIGHUP makes new handshakes
// see the new certificate while an open connection keeps working; a broken
// file on the next SIGHUP leaves the current certificate in place.
func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test CA")
	first, second := ca.Server(t, "first"), ca.Server(t, "second")
	certFile, keyFile := first.Write(t, dir, "server")
	cmd, addr, _ := startServeEnv(t, []string{"HERALD_TLS_CERT_FILE=" + certFile, "HERALD_TLS_KEY_FILE=" + keyFile})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}

	served := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "first" {
		t.Fatalf("serving %q, want first", cn)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP on the TLS listener: %d, want 400", resp.StatusCode)
		}
	}
	c := ht.Dial(t, "wss://"+addr+"/ws", &websocket.DialOptions{HTTPClient: hc})
	if r := c.Call(map[string]any{"type": "connect"}); r.ErrorCode() != 0 {
		t.Fatalf("connect over wss: %v", r)
	}

	second.Write(t, dir, "server")
	cmd.Process.Signal(syscall.SIGHUP)
	ht.Eventually(t, 5*time.Second, func() bool { return served() == "second" }, "the new certificate after SIGHUP")
	if r := c.Call(map[string]any{"type": "subscribe", "channel": "any:tls"}); r.ErrorCode() != 0 {
		t.Fatalf("the connection opened before the reload: %v", r)
	}

	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, cmd, "TLS files not reloaded")
	if cn := served(); cn != "second" {
		t.Fatalf("after a broken reload serving %q, want second kept", cn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/healthz", nil)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over https: %v %v", resp, err)
	}
	resp.Body.Close()
}
