package http

import (
	"context"
	"io"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// BackupFunc streams a consistent copy of the store to w from one read
// transaction, telling size the copy's length before the first byte
// (bolt.DB.WriteBackup has this shape).
type BackupFunc func(ctx context.Context, w io.Writer, size func(int64)) (int64, error)

// backup answers GET /v1/admin/backup: the API's bbolt file, copied hot
// while the API serves, for `bondgate backup --from URL`. A running API holds
// its file's lock, so this is the only way to copy it without stopping it.
func (s *Server) backup(c echo.Context) error {
	if s.cfg.Backup == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "backup is not configured")
	}
	h := c.Response().Header()
	n, err := s.cfg.Backup(c.Request().Context(), web.ExtendingWriter(c.Response(), web.WriteTimeout), func(size int64) {
		h.Set(echo.HeaderContentType, "application/octet-stream")
		h.Set(echo.HeaderContentDisposition, `attachment; filename="api.db"`)
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		h.Set("X-Bondgate-Backup-Time", time.Now().UTC().Format(time.RFC3339Nano))
		c.Response().WriteHeader(nethttp.StatusOK)
	})
	if err != nil && !c.Response().Committed {
		return zone.Internal(err)
	}
	if err != nil {
		// Headers are out: the client gets a body shorter than its
		// Content-Length, and the backup command refuses the copy.
		s.log.Error("backup stream failed", "err", err, "bytes", n)
		return nil
	}
	s.log.Info("backup streamed", "bytes", n, "by", web.PrincipalOf(c).Role)
	return nil
}
