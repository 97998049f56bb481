package admin

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestSessionExpiry(t *testing.T) {
	s := newSessions([32]byte{1}, time.Hour)
	now := time.Unix(1_000_000, 0)
	v, exp := s.issue(now)
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expiry %v", exp)
	}
	if _, _, ok := s.check(v, now.Add(time.Hour-time.Second)); !ok {
		t.Fatal("a session refused before it expired")
	}
	if _, _, ok := s.check(v, now.Add(time.Hour)); ok {
		t.Fatal("a session accepted once expired")
	}
	if _, _, ok := newSessions([32]byte{2}, time.Hour).check(v, now); ok {
		t.Fatal("a session accepted under another key")
	}
}

func TestRevokedSessionsAreForgotten(t *testing.T) {
	s := newSessions([32]byte{1}, time.Hour)
	now := time.Unix(1_000_000, 0)
	v, exp := s.issue(now)
	nonce, _, _ := s.check(v, now)
	s.revoke(nonce, exp, now)
	if _, _, ok := s.check(v, now); ok {
		t.Fatal("a revoked session accepted")
	}
	// Once expired it would be refused anyway; the next logout forgets it.
	later := now.Add(2 * time.Hour)
	v2, exp2 := s.issue(later)
	n2, _, _ := s.check(v2, later)
	s.revoke(n2, exp2, later)
	if len(s.revoked) != 1 {
		t.Fatalf("revoked list holds %d, want 1", len(s.revoked))
	}
}

func TestGuardStaysBounded(t *testing.T) {
	g := newGuard()
	now := time.Unix(1_000_000, 0)
	for i := range maxTracked * 2 {
		g.failed("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	if len(g.fails) > maxTracked {
		t.Fatalf("guard tracks %d addresses, cap %d", len(g.fails), maxTracked)
	}
	// A blocked address stays blocked while the table is busy with others.
	for range loginBurst {
		g.failed("192.0.2.1", now)
	}
	if !g.blocked("192.0.2.1", now) {
		t.Fatal("five failures did not block")
	}
	if g.blocked("192.0.2.1", now.Add(loginEvery)) {
		t.Fatal("still blocked after an attempt came back")
	}
}

func TestRemoteKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:5555":             "192.0.2.1",
		"[::ffff:192.0.2.1]:5555":    "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443": "2001:db8:1:2::/64",
	} {
		r := httptestRequest(addr)
		if got := remoteKey(r); got != want {
			t.Errorf("remoteKey(%s) = %s, want %s", addr, got, want)
		}
	}
}

func httptestRequest(remote string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/admin/", nil)
	r.RemoteAddr = remote
	return r
}
