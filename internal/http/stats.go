package http

import (
	nethttp "net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

func (s *Server) stats(c echo.Context) error {
	if s.cfg.Stats == nil {
		return zone.Errorf(zone.EUNAVAILABLE, "statistics are not available")
	}
	from, to, err := period(c)
	if err != nil {
		return err
	}
	st, err := s.cfg.Stats.Get(c.Request().Context(), web.PrincipalOf(c), from, to)
	if err != nil {
		return err
	}
	return web.JSON(c, nethttp.StatusOK, st)
}

// GreenChannelMetric registers bondgate_green_channel_decision_seconds (time
// from submission to customs' first decision, at any hour) on reg and
// returns the observer to hang on zone.DecisionObserver.OnDecided.
func GreenChannelMetric(reg prometheus.Registerer) func(d *zone.PreDeclaration) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bondgate_green_channel_decision_seconds",
		Help:    "Time from a pre-declaration's submission to customs' first decision (clear or reject), 24 hours a day.",
		Buckets: []float64{60, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400},
	})
	h = web.MustRegister(reg, h)
	return func(d *zone.PreDeclaration) {
		if d.DecidedAt != nil {
			h.Observe(d.DecidedAt.Sub(d.CreatedAt).Seconds())
		}
	}
}
