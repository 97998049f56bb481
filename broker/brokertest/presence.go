package brokertest

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
)

func testPresence(t *testing.T, e *env) {
	ch := e.ch("presence")
	a1 := &broker.ClientInfo{User: "alice", Client: "a1", ConnInfo: []byte(`{"n":1}`)}
	a2 := &broker.ClientInfo{User: "alice", Client: "a2"}
	b1 := &broker.ClientInfo{User: "bob", Client: "b1"}
	for _, c := range []*broker.ClientInfo{a1, a2, b1} {
		if err := e.b.AddPresence(ctx, ch, c, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// A refresh replaces the entry rather than adding one.
	a1v2 := &broker.ClientInfo{User: "alice", Client: "a1", ConnInfo: []byte(`{"n":2}`)}
	if err := e.b.AddPresence(ctx, ch, a1v2, time.Minute); err != nil {
		t.Fatal(err)
	}
	p, err := e.b.Presence(ctx, ch)
	if err != nil || len(p) != 3 || p["a1"] == nil || p["a1"].User != "alice" || p["a1"].Client != "a1" ||
		string(p["a1"].ConnInfo) != `{"n":2}` || p["b1"] == nil || p["b1"].User != "bob" {
		t.Fatalf("presence %v (%v)", p, err)
	}
	if st, err := e.b.PresenceStats(ctx, ch); err != nil || st != (broker.PresenceStats{Clients: 3, Users: 2}) {
		t.Fatalf("stats %+v (%v), want 3 clients of 2 users", st, err)
	}
	if err := e.b.RemovePresence(ctx, ch, b1, false); err != nil {
		t.Fatal(err)
	}
	if err := e.b.RemovePresence(ctx, ch, &broker.ClientInfo{User: "x", Client: "nobody"}, true); err != nil {
		t.Fatalf("removing a missing entry: %v", err)
	}
	if st, err := e.b.PresenceStats(ctx, ch); err != nil || st != (broker.PresenceStats{Clients: 2, Users: 1}) {
		t.Fatalf("stats after remove %+v (%v), want 2 clients of 1 user", st, err)
	}
	if p, err := e.b.Presence(ctx, ch); err != nil || len(p) != 2 || p["b1"] != nil {
		t.Fatalf("presence after remove %v (%v)", p, err)
	}
	empty := e.ch("nobody-here")
	if p, err := e.b.Presence(ctx, empty); err != nil || len(p) != 0 {
		t.Fatalf("empty channel presence %v (%v)", p, err)
	}
	if st, err := e.b.PresenceStats(ctx, empty); err != nil || st != (broker.PresenceStats{}) {
		t.Fatalf("empty channel stats %+v (%v)", st, err)
	}
}

func testPresenceExpiry(t *testing.T, e *env) {
	ch := e.ch("presence-ttl")
	add := func(client string, ttl time.Duration) {
		t.Helper()
		if err := e.b.AddPresence(ctx, ch, &broker.ClientInfo{User: "u-" + client, Client: client}, ttl); err != nil {
			t.Fatal(err)
		}
	}
	add("refreshed", shortTTL)
	add("refreshed", time.Minute) // a refresh extends the entry's life
	add("kept", time.Minute)
	add("gone", shortTTL)
	eventually(t, func() string {
		p, err := e.b.Presence(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if p["gone"] != nil {
			return "presence entry did not expire"
		}
		// "gone" was added after "refreshed"'s first ttl started, so that
		// ttl has passed too.
		if len(p) != 2 || p["kept"] == nil || p["refreshed"] == nil {
			t.Fatalf("after expiry: %v, want kept and refreshed", p)
		}
		return ""
	})
	if st, err := e.b.PresenceStats(ctx, ch); err != nil || st != (broker.PresenceStats{Clients: 2, Users: 2}) {
		t.Fatalf("stats after expiry %+v (%v)", st, err)
	}
}

// testPresenceExpiryLeave: an entry nobody removes (its node crashed) expires
// and subscribed nodes hear a leave for it, once; a removed entry's leave is
// the remover's business and is not announced again at expiry.
func testPresenceExpiryLeave(t *testing.T, e *env) {
	ch := e.ch("presence-leave")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	crashed := &broker.ClientInfo{User: "carol", Client: "crashed"}
	removed := &broker.ClientInfo{User: "dave", Client: "removed"}
	for _, c := range []*broker.ClientInfo{crashed, removed} {
		if err := e.b.AddPresence(ctx, ch, c, shortTTL); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.b.RemovePresence(ctx, ch, removed, false); err != nil {
		t.Fatal(err)
	}
	leaves, err := e.rec.Leaves(ch, 1, wait)
	if err != nil {
		t.Fatal(err)
	}
	if leaves[0].User != "carol" || leaves[0].Client != "crashed" {
		t.Fatalf("leave %+v, want carol's crashed client", leaves[0])
	}
	// Long enough for any second sweep to announce it again.
	time.Sleep(4 * shortTTL)
	if leaves, _ := e.rec.Leaves(ch, 2, 0); len(leaves) != 1 {
		t.Fatalf("leaves %+v, want one", leaves)
	}
	if p, err := e.b.Presence(ctx, ch); err != nil || len(p) != 0 {
		t.Fatalf("presence after expiry %v (%v)", p, err)
	}
}

// testPresenceRemoveLeave: whoever removes an entry announces it, once. A
// removal with announce publishes the leave of the entry it removed; a
// repeated removal, a silent one, and a removal after the sweep announced
// the entry's expiry publish nothing.
func testPresenceRemoveLeave(t *testing.T, e *env) {
	ch := e.ch("presence-remove")
	if err := e.b.Subscribe(ctx, ch); err != nil {
		t.Fatal(err)
	}
	info := func(client string) *broker.ClientInfo { return &broker.ClientInfo{User: "u-" + client, Client: client} }
	for client, ttl := range map[string]time.Duration{"goes": time.Minute, "silent": time.Minute, "stays": time.Minute, "expires": shortTTL} {
		if err := e.b.AddPresence(ctx, ch, info(client), ttl); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(client string, announce bool) {
		t.Helper()
		if err := e.b.RemovePresence(ctx, ch, info(client), announce); err != nil {
			t.Fatal(err)
		}
	}
	remove("goes", true)
	remove("goes", true) // a retry after a lost reply
	remove("silent", false)
	if _, err := e.rec.Leaves(ch, 2, wait); err != nil {
		t.Fatalf("the removal's leave and the expiry's: %v", err)
	}
	remove("expires", true) // already swept and announced
	remove("stays", true)   // a marker: any extra leave would come before it
	if _, err := e.rec.Leaves(ch, 3, wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * shortTTL) // long enough for a second sweep
	leaves, _ := e.rec.Leaves(ch, 4, 0)
	var got []string
	for _, l := range leaves {
		got = append(got, l.Client)
	}
	if len(got) != 3 || got[0] != "goes" || got[1] != "expires" || got[2] != "stays" || leaves[0].User != "u-goes" {
		t.Fatalf("leaves %v, want goes, expires, stays once each", got)
	}
	if p, err := e.b.Presence(ctx, ch); err != nil || len(p) != 0 {
		t.Fatalf("presence after the removals %v (%v)", p, err)
	}
}
