package web

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAtMost reads what io.ReadAll(io.LimitReader(r, limit)) reads, however
// the reader hands out its bytes and whatever length was declared.
func TestReadAtMostReadsWhatReadAllReads(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 70000} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		for _, limit := range []int64{1, 100, 512, int64(n), int64(n) + 1, 1 << 20} {
			for _, size := range []int64{-1, int64(n), int64(n) + 7} {
				for name, wrap := range map[string]func(io.Reader) io.Reader{
					"whole":         func(r io.Reader) io.Reader { return r },
					"bytes":         iotest.OneByteReader,
					"halves":        iotest.HalfReader,
					"eof with data": iotest.DataErrReader,
				} {
					want, _ := io.ReadAll(io.LimitReader(wrap(bytes.NewReader(data)), limit))
					got, err := readAtMost(wrap(bytes.NewReader(data)), min(size, limit-1), limit)
					require.NoError(t, err)
					require.Equal(t, want, got, "n=%d limit=%d size=%d %s", n, limit, size, name)
				}
			}
		}
	}
	boom := errors.New("boom")
	got, err := readAtMost(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10, 100)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "abc", string(got))
}

// ReadBody reads the body to its end and closes it, which must leave the
// connection open for the client's next request, with or without a
// declared length; an oversized body is still 413.
func TestReadBodyKeepsTheConnection(t *testing.T) {
	e := echo.New()
	e.POST("/", func(c echo.Context) error {
		raw, err := ReadBody(c, 64)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain", raw)
	})
	srv := httptest.NewUnstartedServer(e)
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	post := func(body io.Reader) (int, string) {
		res, err := srv.Client().Post(srv.URL, "application/json", body)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(raw)
	}
	for i := 0; i < 3; i++ {
		st, got := post(strings.NewReader(`{"n":1}`)) // declared length
		assert.Equal(t, http.StatusOK, st)
		assert.Equal(t, `{"n":1}`, got)
		st, got = post(io.MultiReader(strings.NewReader(`{"n":`), strings.NewReader(`2}`))) // chunked
		assert.Equal(t, http.StatusOK, st)
		assert.Equal(t, `{"n":2}`, got)
	}
	assert.Equal(t, int64(1), conns.Load(), "every request on one connection")
	st, _ := post(io.MultiReader(strings.NewReader(strings.Repeat("x", 65))))
	assert.Equal(t, http.StatusRequestEntityTooLarge, st)
	st, _ = post(strings.NewReader(strings.Repeat("x", 64)))
	assert.Equal(t, http.StatusOK, st)
}
