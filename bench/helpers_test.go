package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/hub"

	ht "github.com/heraldhq/herald/internal/heraldtest"
)

func anonymousHub() hub.Config {
	return hub.Config{Anonymous: true, Namespaces: ht.DefaultNamespaces()}
}

// httptestMetrics serves a /metrics page reporting rss bytes.
func httptestMetrics(t *testing.T, rss int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %e\n", float64(rss))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}
