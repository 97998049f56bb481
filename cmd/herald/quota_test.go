package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/heraldhq/herald/broker"
	"github.com/heraldhq/herald/broker/memory"
	"github.com/heraldhq/herald/config"
)

// TestQuotaConfig: the quota keys and the memory engine's caps reach the
// hub and the broker.
func TestQuotaConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Limits.MaxNewChannels, cfg.Limits.NewChannelsInterval = 7, time.Minute
	cfg.Inbox.MaxNewRecipients, cfg.Inbox.NewRecipientsInterval, cfg.Inbox.MaxPerSender = 8, 2*time.Minute, 9
	cfg.Broker.Memory.MaxRetainedBytes, cfg.Broker.Memory.MaxStreams = 100, 1
	h := hubConfig(cfg, slog.New(slog.DiscardHandler))
	if h.NewChannelQuota != 7 || h.NewChannelInterval != time.Minute || h.NewRecipientQuota != 8 ||
		h.NewRecipientInterval != 2*time.Minute || h.InboxPerSender != 9 {
		t.Fatalf("hub config %+v", h)
	}
	b, err := newBroker(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mb := b.(*memory.Broker)
	for _, ch := range []string{"a", "b"} {
		if _, _, err := mb.InboxHistory(t.Context(), ch, broker.HistoryOptions{Limit: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if u := mb.Usage(); u.Streams != 1 || u.Evicted != 1 {
		t.Fatalf("memory broker usage %+v, want max_streams 1 applied", u)
	}
}
