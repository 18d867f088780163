package gateway

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
	"github.com/labstack/echo/v4"
)

// getBackup answers GET /v1/admin/backup: a consistent copy of the gate's
// bbolt file, streamed from one read transaction while the gate goes on
// accepting events. `bondgate backup --from URL` uses it, since a running
// gate holds the file's lock and no other process may open it.
func (s *Service) getBackup(c echo.Context) error {
	name := "gate-" + s.cfg.GateID + ".db"
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", filepath.Base(name)))
	h.Set("X-Bondgate-Backup-Time", time.Now().UTC().Format(time.RFC3339Nano))
	n, err := s.db.WriteBackup(c.Request().Context(), web.ExtendingWriter(c.Response(), web.WriteTimeout), func(size int64) {
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		c.Response().WriteHeader(http.StatusOK)
	})
	if err != nil && !c.Response().Committed {
		return zone.Internal(err)
	}
	if err != nil {
		// The status is sent: the client sees a short body, which the
		// backup command's check of the copy refuses.
		s.log.Error("backup stream failed", "err", err, "bytes", n)
		return nil
	}
	s.log.Info("backup streamed", "bytes", n)
	return nil
}
