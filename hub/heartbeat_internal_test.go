package hub

import (
	"math/rand/v2"
	"testing"
	"time"
)

// testWheel is a wheel for cfg's delays on a clock the test moves; its
// timer does nothing, the test calls due itself.
func testWheel(cfg Config) (*beatWheel, *time.Duration) {
	cfg.setDefaults()
	w := &beatWheel{}
	w.init(&cfg, func() {})
	clock := new(time.Duration)
	*clock = w.tick // tick 1, as a fresh wheel starts
	w.elapsed = func() time.Duration { return *clock }
	return w, clock
}

// slotOf returns the tick c waits at, failing unless it is in the wheel.
func slotOf(t *testing.T, c *Client) int64 {
	t.Helper()
	if c.beatAt <= beatIdle {
		t.Fatalf("client not in the wheel: %d", c.beatAt)
	}
	return c.beatAt
}

// TestBeatWheelDeadlines: a timeout fires within the tick after its
// deadline, never before; a ping within the tick before it, never after
// (a client's watchdog counts from it). Random delays, fired tick by tick.
func TestBeatWheelDeadlines(t *testing.T) {
	w, clock := testWheel(Config{PingInterval: 2 * time.Second, PongTimeout: time.Second, ConnectTimeout: 3 * time.Second})
	if w.tick != 50*time.Millisecond {
		t.Fatalf("tick %v, want a twentieth of the shortest delay", w.tick)
	}
	type entry struct {
		deadline time.Duration
		ping     bool
	}
	want := map[*Client]entry{}
	// advance moves the clock by d in steps of a third of a tick, firing
	// what is due at each step.
	advance := func(d time.Duration) {
		for end := *clock + d; *clock < end; {
			*clock += min(w.tick/3, end-*clock)
			for _, c := range w.due() {
				e := want[c]
				delete(want, c)
				if !w.claim(c) {
					t.Fatal("a due client could not be claimed")
				}
				switch {
				case e.ping && (*clock > e.deadline+w.tick/3 || *clock < e.deadline-w.tick):
					t.Fatalf("ping due at %v fired at %v: more than a tick early, or late", e.deadline, *clock)
				case !e.ping && (*clock < e.deadline || *clock > e.deadline+w.tick+w.tick/3):
					t.Fatalf("timeout due at %v fired at %v: early, or over a tick late", e.deadline, *clock)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		if i%100 == 0 {
			advance(time.Duration(rng.Int64N(int64(w.tick)))) // off the tick
		}
		c := &Client{}
		ping := i%2 == 0
		// A ping is at least a tick ahead: the interval is twenty.
		d := w.tick + time.Duration(rng.Int64N(int64(3*time.Second)))
		if !ping {
			d -= w.tick
		}
		w.set(c, d, ping)
		want[c] = entry{*clock + d, ping}
	}
	advance(4 * time.Second)
	if len(want) != 0 || w.size() != 0 {
		t.Fatalf("%d deadlines never fired, %d left in the wheel", len(want), w.size())
	}
}

// TestBeatWheelLongDelay: a deadline further ahead than the ring reaches
// (a minute of one-millisecond ticks, over three turns of the ring) waits
// its turns and fires on time, not a turn early.
func TestBeatWheelLongDelay(t *testing.T) {
	w, clock := testWheel(Config{PingInterval: 20 * time.Millisecond, PongTimeout: time.Minute, ConnectTimeout: 20 * time.Millisecond})
	if len(w.slots) != beatMaxSlots || w.tick != time.Millisecond {
		t.Fatalf("%d slots of %v", len(w.slots), w.tick)
	}
	c := &Client{}
	w.set(c, time.Minute, false)
	deadline := *clock + time.Minute
	const step = 100 * time.Millisecond
	for *clock < deadline+time.Second {
		*clock += step
		if got := w.due(); len(got) != 0 {
			if *clock < deadline || *clock >= deadline+step+w.tick {
				t.Fatalf("due at %v, fired at %v", deadline, *clock)
			}
			return
		}
	}
	t.Fatal("never fired")
}

// TestBeatWheelSpreadsCrowd: 10,000 pings due in one instant are spread
// over earlier slots, none holding more than the crowd bound (four times
// the average), none moved more than the spread; a lone ping keeps its
// slot.
func TestBeatWheelSpreadsCrowd(t *testing.T) {
	w, _ := testWheel(Config{PingInterval: 25 * time.Second, PongTimeout: 10 * time.Second, ConnectTimeout: 10 * time.Second})
	lone := &Client{}
	w.set(lone, 25*time.Second, true)
	due := slotOf(t, lone)
	if due != 1+250 {
		t.Fatalf("lone ping at tick %d, want %d (25 s of 100 ms ticks from tick 1)", due, 1+250)
	}
	w.remove(lone)

	const n = 10000
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = &Client{}
		w.set(clients[i], 25*time.Second, true)
	}
	perSlot := map[int64]int{}
	for _, c := range clients {
		s := slotOf(t, c)
		if s > due || s < due-w.spread {
			t.Fatalf("ping at tick %d, outside [%d, %d]", s, due-w.spread, due)
		}
		perSlot[s]++
	}
	crowd := beatCrowd*n/int(w.perInterval) + 1
	most := 0
	for s, k := range perSlot {
		if k > crowd {
			t.Errorf("tick %d holds %d pings, over the crowd bound %d", s, k, crowd)
		}
		most = max(most, k)
	}
	// Spread over the quarter interval before it, at most four times the
	// average in a slot: not all in one.
	if len(perSlot) < int(w.spread) {
		t.Fatalf("pings in %d slots, at most %d in one: not spread", len(perSlot), most)
	}
	t.Logf("%d pings in %d slots, at most %d in one", n, len(perSlot), most)
}

// TestBeatWheelRemove: a removed client leaves the wheel, in a slot or
// taken out for firing but not handled yet, and is never handed on.
func TestBeatWheelRemove(t *testing.T) {
	w, clock := testWheel(Config{PingInterval: time.Second, PongTimeout: time.Second, ConnectTimeout: time.Second})
	a, b, c := &Client{}, &Client{}, &Client{}
	for _, x := range []*Client{a, b, c} {
		w.set(x, 500*time.Millisecond, false)
	}
	w.remove(b) // the middle of a slot's list
	if w.size() != 2 {
		t.Fatalf("size %d after a removal, want 2", w.size())
	}
	*clock += time.Second
	got := w.due()
	if len(got) != 2 || got[0] == b || got[1] == b {
		t.Fatalf("due %v: the removed client came back", got)
	}
	w.remove(got[0]) // removed while firing: its handler must not act
	if w.claim(got[0]) {
		t.Fatal("claimed a client removed while firing")
	}
	w.set(got[1], time.Second, true) // set again while firing: the old deadline is void
	if w.claim(got[1]) {
		t.Fatal("claimed a client whose deadline was set again")
	}
	w.remove(got[1])
	if w.size() != 0 || b.beatAt != beatIdle || b.beatNext != nil || b.beatPrev != nil {
		t.Fatalf("wheel holds %d; removed client's links %v %v", w.size(), b.beatNext, b.beatPrev)
	}
	for i := range w.slots {
		if w.slots[i].head != nil || w.slots[i].pings != 0 {
			t.Fatalf("slot %d not empty", i)
		}
	}
}
