package http

import (
	nethttp "net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A firm or officer with no write-offs gets an empty list, never null.
func TestWriteOffListEmptyIsNotNull(t *testing.T) {
	a := maintenanceAPI(t)
	for _, path := range []string{"/v1/writeoffs", "/v1/writeoffs?status=verified"} {
		r := a.get(path, tokGAMECO)
		require.Equal(t, nethttp.StatusOK, r.Status, path)
		assert.Contains(t, string(r.Body), `"items":[]`, path)
	}
}
