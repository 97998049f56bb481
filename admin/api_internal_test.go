package admin

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// TestWriteJSONEncodesBeforeTheStatus: a value that cannot be encoded is
// answered 500 with an error body, not the intended status with an empty
// body (the status line cannot be taken back once written).
func TestWriteJSONEncodesBeforeTheStatus(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := writeJSON(rec, http.StatusOK, map[string]any{"x": math.NaN()}); err == nil {
		t.Error("no error returned for an unencodable value")
	}
	var body struct {
		Error struct {
			Code protocol.ErrorCode `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusInternalServerError || err != nil || body.Error.Code != protocol.CodeInternal {
		t.Fatalf("status %d, body %q (%v)", rec.Code, rec.Body, err)
	}
	rec = httptest.NewRecorder()
	if err := writeJSON(rec, http.StatusCreated, map[string]any{"x": 1}); err != nil || rec.Code != http.StatusCreated || rec.Body.String() != "{\"x\":1}\n" {
		t.Fatalf("status %d, body %q, %v", rec.Code, rec.Body, err)
	}
}
