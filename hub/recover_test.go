package hub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/hub"
)

// TestSubscribeRecoveryResult: a subscribe with since gets the
// publications after it, its stream's current position and recovered
// true; a since in another epoch gets recovered false, the current
// position and no publications, and the subscriber recovers the rest
// from history itself.
func TestSubscribeRecoveryResult(t *testing.T) {
	h := tokenHub(t, hub.Config{Anonymous: true}, map[string]hub.Namespace{
		"": {HistorySize: 100, HistoryTTL: time.Hour, Recover: true, AllowHistory: hub.AccessAny},
	})
	first := connect(t, h, "").call(subscribe("room"))
	res, _ := first["result"].(map[string]any)
	epoch, _ := res["epoch"].(string)
	if errorCode(first) != 0 || epoch == "" || res["offset"] != float64(0) {
		t.Fatalf("first subscribe: %v, want offset 0 and an epoch", first)
	}
	for i := 1; i <= 5; i++ {
		if _, err := h.Publish(context.Background(), "room", fmt.Appendf(nil, `{"n":%d}`, i), ""); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("recovered", func(t *testing.T) {
		r := connect(t, h, "").call(map[string]any{"type": "subscribe", "channel": "room",
			"since": map[string]any{"offset": 2, "epoch": epoch}})
		res, _ := r["result"].(map[string]any)
		pubs, _ := res["publications"].([]any)
		if res["recovered"] != true || res["offset"] != float64(5) || res["epoch"] != epoch || len(pubs) != 3 {
			t.Fatalf("result %v, want publications 3 to 5, recovered, at offset 5 of %s", r, epoch)
		}
		for i, p := range pubs {
			pub, _ := p.(map[string]any)
			data, _ := pub["data"].(map[string]any)
			if pub["offset"] != float64(3+i) || data["n"] != float64(3+i) {
				t.Fatalf("publication %d: %v, want offset and n %d", i, p, 3+i)
			}
		}
	})
	t.Run("up to date", func(t *testing.T) {
		r := connect(t, h, "").call(map[string]any{"type": "subscribe", "channel": "room",
			"since": map[string]any{"offset": 5, "epoch": epoch}})
		res, _ := r["result"].(map[string]any)
		if pubs, _ := res["publications"].([]any); res["recovered"] != true || res["offset"] != float64(5) || len(pubs) != 0 {
			t.Fatalf("result %v, want recovered with nothing missed", r)
		}
	})
	t.Run("another epoch", func(t *testing.T) {
		r := connect(t, h, "").call(map[string]any{"type": "subscribe", "channel": "room",
			"since": map[string]any{"offset": 2, "epoch": "bogus"}})
		res, _ := r["result"].(map[string]any)
		if pubs, _ := res["publications"].([]any); errorCode(r) != 0 || res["recovered"] != false || res["offset"] != float64(5) || res["epoch"] != epoch || len(pubs) != 0 {
			t.Fatalf("result %v, want not recovered, no publications, at offset 5 of %s", r, epoch)
		}
	})
}
