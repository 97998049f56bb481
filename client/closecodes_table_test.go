package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/protocol"
)

// CloseCodeReaction is one row of conformance/closecodes.json: how a
// client reacts to a close code (the file's description defines each
// field).
type CloseCodeReaction struct {
	Code                 int    `json:"code"`
	From                 int    `json:"from"`
	To                   int    `json:"to"`
	Meaning              string `json:"meaning"`
	Push                 bool   `json:"push"`
	Reconnect            bool   `json:"reconnect"`
	Backoff              bool   `json:"backoff"`
	RefreshToken         bool   `json:"refreshToken"`
	ResubscribeWithSince bool   `json:"resubscribeWithSince"`
}

// CloseCodeTable is conformance/closecodes.json, the close-code table of
// PROTOCOL.md §18.1 that every SDK checks itself against.
type CloseCodeTable struct {
	Codes    []CloseCodeReaction `json:"codes"`
	Ranges   []CloseCodeReaction `json:"ranges"`
	Unlisted CloseCodeReaction   `json:"unlisted"`
}

// LoadCloseCodeTable reads conformance/closecodes.json; the package's
// external tests use it too.
func LoadCloseCodeTable(t *testing.T) CloseCodeTable {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "conformance", "closecodes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table CloseCodeTable
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Codes) == 0 || len(table.Ranges) == 0 {
		t.Fatal("closecodes.json lists no codes or no ranges")
	}
	return table
}

// noCloseFrame is the table's 1006: the client sees no code at all.
const noCloseFrame = 1006

// TestCloseCodeDecisions checks the client's decisions (reconnect or stop,
// back off or not, whether a fixed token can go on) and the server's
// disconnect pushes (their reconnect flag) against closecodes.json.
func TestCloseCodeDecisions(t *testing.T) {
	table := LoadCloseCodeTable(t)
	check := func(code protocol.CloseCode, pushed *protocol.Disconnect, row CloseCodeReaction) {
		t.Helper()
		if got := reconnects(code, pushed); got != row.Reconnect {
			t.Errorf("close %d (push %v): reconnects %v, the table says %v", code, pushed != nil, got, row.Reconnect)
		}
		// Backing off only matters for a close the client reconnects after.
		if row.Reconnect {
			if got := continuesBackoff(code); got != row.Backoff {
				t.Errorf("close %d: continues the backoff count %v, the table says %v", code, got, row.Backoff)
			}
		}
		// A code that asks for a new token stops a client that cannot get
		// one, rather than refused again and again.
		c := &Client{}
		if got := c.stuckWithToken(code); got != (row.RefreshToken && row.Reconnect) {
			t.Errorf("close %d: stops without a TokenFunc %v, the table says refreshToken %v", code, got, row.RefreshToken)
		}
	}
	for _, row := range table.Codes {
		if row.Code == noCloseFrame {
			check(0, nil, row)
			continue
		}
		code := protocol.CloseCode(row.Code)
		if got := code.Reconnect(); got != row.Reconnect {
			t.Errorf("the server's disconnect push for %d says reconnect %v, the table %v", code, got, row.Reconnect)
		}
		check(code, nil, row)
		if row.Push {
			check(code, &protocol.Disconnect{Code: code, Reconnect: row.Reconnect}, row)
		}
	}
	for _, row := range table.Ranges {
		for _, c := range []int{row.From, (row.From + row.To) / 2, row.To} {
			code := protocol.CloseCode(c)
			if got := code.Reconnect(); got != row.Reconnect {
				t.Errorf("the server's disconnect push for %d says reconnect %v, the table %v", code, got, row.Reconnect)
			}
			check(code, &protocol.Disconnect{Code: code, Reconnect: row.Reconnect}, row)
			check(code, nil, table.Unlisted) // no push names it: someone else's code
		}
	}
	for _, c := range []protocol.CloseCode{1011, 1012, 1013, 1014, 2000, 4999} {
		if !listed(table, int(c)) {
			check(c, nil, table.Unlisted)
		}
	}
}

// listed reports whether the table names code in codes or ranges.
func listed(table CloseCodeTable, code int) bool {
	for _, row := range table.Codes {
		if row.Code == code {
			return true
		}
	}
	for _, row := range table.Ranges {
		if code >= row.From && code <= row.To {
			return true
		}
	}
	return false
}
