package faults

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Scenario 13, model-based: random sequences of post / crash (kill -9) /
// link down (broker stopped or frozen) / link up / drain against the real
// gate and broker processes, checked against a model of what must hold:
// every acked event survives with its first seq (no lost ack), every acked
// beam pair is decided once (no duplicate in effect), and the crossings
// topic, de-duplicated, holds the gate's decisions in its order. The seed
// is logged, and printed again on failure (replay: BONDGATE_SEED).
func TestFault13ModelBased(t *testing.T) {
	skipShort(t)
	seed := seedOf(t)
	rng := rand.New(rand.NewPCG(seed, 13))
	b := startBrokerProc(t)
	g := startGateProc(t, b.addr, "--kafka-write-timeout", "1s")
	l := newLoader(g)
	broker := "up" // up | down | frozen
	steps := scale(14, 60)
	var trace []string
	var tot delivery
	lostAcks := 0
	drain := func() {
		d := checkAfterDrain(t, g, b.addr, l)
		tot.Lost += d.Lost
		tot.DupInEffect += d.DupInEffect
		tot.Reordered += d.Reordered
		tot.KafkaDupes = d.KafkaDupes
		require.Zero(t, d.Lost+d.DupInEffect+d.Reordered, "model violated (lost %d, dup %d, reordered %d) after %v", d.Lost, d.DupInEffect, d.Reordered, trace)
	}
	linkUp := func() {
		switch broker {
		case "down":
			b.start(t)
		case "frozen":
			b.p.Signal(t, syscall.SIGCONT)
		}
		broker = "up"
	}
	for range steps {
		op := []string{"post", "post", "post", "crash", "linkdown", "linkup", "drain"}[rng.IntN(7)]
		trace = append(trace, op)
		switch op {
		case "post":
			for range 1 + rng.IntN(5) {
				require.Equal(t, http.StatusAccepted, l.postPairs(1+rng.IntN(3), 1+rng.IntN(4)), "POST with broker %s", broker)
			}
		case "crash":
			stop := make(chan struct{})
			wg := l.run(2, 4, stop)
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			g.p.Kill(t)
			close(stop)
			wg.Wait()
			g.start(t)
			lost, moved := l.repost(t)
			lostAcks += lost + moved
			require.Zero(t, lost+moved, "acks lost after a crash; trace %v", trace)
		case "linkdown":
			if broker != "up" {
				continue
			}
			if rng.IntN(2) == 0 {
				require.Equal(t, 0, b.p.Stop(t))
				broker = "down"
			} else {
				b.p.Signal(t, syscall.SIGSTOP)
				broker = "frozen"
			}
			trace[len(trace)-1] += "(" + broker + ")"
		case "linkup":
			linkUp()
		case "drain":
			linkUp()
			drain()
		}
	}
	linkUp()
	drain()
	tot.Lost += lostAcks
	report(t, faultRow{Scenario: "13 model-based", Trials: steps, Acked: 2 * len(l.pairs()), Lost: tot.Lost, DupInEffect: tot.DupInEffect + l.moved,
		Reordered: tot.Reordered, KafkaDupes: tot.KafkaDupes,
		Note: fmt.Sprintf("seed %d: %s", seed, strings.Join(trace, " "))})
}

// checkAfterDrain waits for the backlog to drain and checks the model.
func checkAfterDrain(t *testing.T, g *gateProc, broker string, l *loader) delivery {
	t.Helper()
	waitCovered(t, g, l.pairs(), 120*time.Second)
	return checkDelivery(t, g, broker, l.pairs())
}
