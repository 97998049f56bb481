package admin_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestAPIHistoryDeepData: data nested far past max_data_depth (as a
// Protobuf client or the server API's b64data may publish it) is shown as
// b64, and the history answer stays a 200 with a valid body. Before, the
// encoder failed after the 200 was written: an empty body.
func TestAPIHistoryDeepData(t *testing.T) {
	c := startConsole(t)
	b := c.login(t)
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	c.MustAPI("publish", map[string]any{"channel": "chat:deep", "b64data": base64.StdEncoding.EncodeToString([]byte(deep))})
	r := c.get(t, b, "history?channel=chat:deep")
	pubs, _ := r.body["publications"].([]any)
	if r.status != http.StatusOK || len(pubs) != 1 {
		t.Fatalf("history: %d %.200v", r.status, r.body)
	}
	pub := pubs[0].(map[string]any)
	if got, _ := base64.StdEncoding.DecodeString(pub["b64"].(string)); string(got) != deep || pub["data"] != nil {
		t.Fatalf("publication %.200v, want the data as b64", pub)
	}
}
