package http

import (
	"encoding/csv"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsignmentReportAsCSV: with Accept: text/csv the consumption report
// is one row per consumption or installation with its task card, then a
// TOTAL row per supplier and part, every cell made safe for a spreadsheet.
func TestConsignmentReportAsCSV(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	id := a.createLot(tokHNA, consignedLotJSON)
	moves := "/v1/parts/lots/" + id + "/movements"
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA, `{"kind":"consume","quantity":2,"task_card":{"number":"TC-0042"}}`).Status)
	require.Equal(t, nethttp.StatusCreated, a.post(moves, tokHNA,
		`{"kind":"install","quantity":1,"aircraft_registration":"B-1234","task_card":{"number":"=HYPERLINK(\"http://x\")"}}`).Status)

	r := a.do(req{method: "GET", path: "/v1/parts/consignment?supplier=AAR%20OSS", token: tokHNA, header: map[string]string{"Accept": "text/csv"}})
	require.Equal(t, nethttp.StatusOK, r.Status, "%s", r.Body)
	assert.True(t, strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv"), r.Header.Get("Content-Type"))
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header, two movements, one total")
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	cell := func(row int, name string) string { return rows[row][col[name]] }
	assert.Equal(t, "AAR OSS", cell(1, "supplier"))
	assert.Equal(t, "consume", cell(1, "kind"))
	assert.Equal(t, "2", cell(1, "quantity"))
	assert.Equal(t, "TC-0042", cell(1, "task_card"))
	assert.Equal(t, "install", cell(2, "kind"))
	assert.Equal(t, "B-1234", cell(2, "aircraft_registration"))
	assert.Equal(t, `'=HYPERLINK("http://x")`, cell(2, "task_card"), "a formula is never run")
	assert.Equal(t, "TOTAL", cell(3, "lot_id"))
	assert.Equal(t, "3214552-1", cell(3, "part_number"))
	assert.Equal(t, []string{"3", "2", "1"}, []string{cell(3, "quantity"), cell(3, "consumed"), cell(3, "installed")})

	// JSON stays the default.
	assert.Len(t, a.get("/v1/parts/consignment", tokHNA).json(t)["items"], 2)
}
