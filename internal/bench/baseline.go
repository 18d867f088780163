package bench

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/gateway/decide"
)

// parseOnlyServer is figure 1's baseline: a plain net/http server that
// takes the same POST /v1/events a gate takes — bearer token, body, the
// gate's own parsing and validation (decide.ParseEvents, encoding/json) —
// and answers 202 with the same body shape, storing nothing. It is neutral
// on purpose: no gate code path carries a "don't store" switch, and the
// ratio says what durability plus the gate's HTTP stack cost against the
// least an ingest endpoint must do.
type parseOnlyServer struct {
	addr string
	srv  *http.Server
}

// startParseOnly serves the baseline on a free loopback port in this
// process (the harness idles while wrk loads it).
func startParseOnly() (*parseOnlyServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var seq atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+benchGateToken {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		events, err := decide.ParseEvents(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		acc := make([]gateway.Accepted, len(events))
		for i := range events {
			if events[i].Gate != benchGate {
				http.Error(w, "event for another gate", http.StatusForbidden)
				return
			}
			acc[i] = gateway.Accepted{EventID: events[i].EventID, Seq: seq.Add(1)}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"accepted": acc})
	})
	s := &parseOnlyServer{addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }() // returns ErrServerClosed on stop
	return s, nil
}

func (s *parseOnlyServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
