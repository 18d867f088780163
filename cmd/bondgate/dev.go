package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bondgate/bondgate/fixtures"
	"github.com/bondgate/bondgate/gateway"
	"github.com/bondgate/bondgate/internal/api"
	"github.com/bondgate/bondgate/internal/kafka"
	"github.com/bondgate/bondgate/internal/zone"
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("dev", "[--data DIR] [--broker-addr A] [--api-addr A] [--gate-addrs GATE=A,...]", stderr)
	data := fs.String("data", "./data", "folder for every part's data (broker log, API and gate databases)")
	brokerAddr := fs.String("broker-addr", "127.0.0.1:9092", "embedded broker address")
	apiAddr := fs.String("api-addr", "127.0.0.1:8080", "zone API address")
	gateAddrs := fs.String("gate-addrs", defaultGateAddrs(), "gate addresses, GATE=HOST:PORT comma-separated; a gate not named keeps its default")
	seedHist := fs.Bool("seed-history", false, "load the source's 2023–2025 historical moves (fixtures/stats) so /v1/stats shows its figures")
	hardware := fs.Bool("hardware", false, "give G-MRO-1 the dev hardware too (fixtures/hardware/dev-devices.json): ISAPI cameras ANPR-1/ANPR-2 and a Modbus I/O module IO-1 it polls; 'bondgate demo --hardware' serves the module (without it, the gate reports IO-1 silent)")
	modbusAddr := fs.String("modbus-addr", "", "with --hardware, the I/O module's host:port (default: the fixture's, 127.0.0.1:1502)")
	newLog := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	log := newLog(stderr)
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	tokensPath := filepath.Join(*data, "tokens.json")
	if err := os.WriteFile(tokensPath, fixtures.Tokens(), 0o600); err != nil {
		return fmt.Errorf("write dev tokens: %w", err)
	}
	toks, err := zone.ParseTokens(strings.NewReader(string(fixtures.Tokens())))
	if err != nil {
		return err
	}

	broker, err := kafka.StartBroker(ctx, kafka.BrokerConfig{Addr: *brokerAddr, DataDir: filepath.Join(*data, "broker")},
		log.With("component", "broker"))
	if err != nil {
		return fmt.Errorf("start broker on %s (is another bondgate dev running?): %w", *brokerAddr, err)
	}
	defer broker.Close()
	brokers := broker.Addrs()

	gates := fixtures.Gates()
	if err := setGateAddrs(gates, *gateAddrs); err != nil {
		return err
	}
	var gateIDs, dedicated []string
	gateURLs := map[string]string{}
	for _, g := range gates {
		gateIDs = append(gateIDs, g.ID)
		gateURLs[g.ID] = "http://" + g.Addr
		if g.Kind == "dedicated" {
			dedicated = append(dedicated, g.ID)
		}
	}

	// Every part runs until ctx is done; the first to fail stops the rest.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	start := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(runCtx); err != nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		})
	}
	start("api", func(ctx context.Context) error {
		return serveAPI(ctx, api.Config{Addr: *apiAddr, DataDir: filepath.Join(*data, "api"), Brokers: brokers,
			Tokens: toks, Gates: gateIDs, DedicatedGates: dedicated, Log: log.With("component", "api"), SeedHistory: *seedHist,
			GateURLs: gateURLs, Samples: true}) // so no console panel is empty on first run
	})
	for _, g := range gates {
		devices := fixtureDevices(g)
		if *hardware && g.ID == hardwareGate {
			hw, err := devHardware(*modbusAddr)
			if err != nil {
				return err
			}
			devices = append(devices, hw...)
		}
		start("gate "+g.ID, func(ctx context.Context) error {
			return serveGate(ctx, gateway.Config{GateID: g.ID, Addr: g.Addr, DataDir: filepath.Join(*data, "gate-"+g.ID),
				Brokers: brokers, Tokens: toks, Devices: devices, Log: gateLogger(log)})
		})
	}

	printDevBanner(stdout, *data, brokers, *apiAddr, gates)
	if *hardware {
		fmt.Fprintf(stdout, "Hardware on %s: ISAPI cameras ANPR-1, ANPR-2 (POST /v1/hardware/isapi/<id>, Basic anpr-1/anpr-1-dev, anpr-2/anpr-2-dev), I/O module IO-1 polled over Modbus TCP; the story through them: bin/bondgate demo --hardware\n", hardwareGate)
	}
	<-runCtx.Done()
	wg.Wait()
	broker.Close()
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	fmt.Fprintln(stdout, "bondgate dev stopped")
	return nil
}

func printDevBanner(w io.Writer, data string, brokers []string, apiAddr string, gates []fixtures.Gate) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "bondgate dev %s — data in %s (started %s)\n\n", version, data, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "  broker\t%s\n", strings.Join(brokers, ","))
	fmt.Fprintf(tw, "  zone API\thttp://%s\t(OpenAPI: /openapi.json)\n", apiAddr)
	for _, g := range gates {
		fmt.Fprintf(tw, "  gate %s\thttp://%s\t%s\n", g.ID, g.Addr, g.Name)
	}
	fmt.Fprintf(tw, "\nDev tokens (Authorization: Bearer <token>; also in %s):\n", filepath.Join(data, "tokens.json"))
	var recs []zone.TokenRecord
	_ = json.Unmarshal(fixtures.Tokens(), &recs) // embedded, and parsed by the caller already
	for _, r := range recs {
		who := r.Firm + r.Officer + r.Gate
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Token, r.Role, who)
	}
	for _, r := range recs {
		if r.Role == zone.RoleCustoms && r.Token != "" {
			// The token rides in the fragment: browsers never send it to a server or put it in a log.
			fmt.Fprintf(tw, "\nOfficer's console (signs in %s): http://%s/#token=%s\n", r.Officer, apiAddr, url.PathEscape(r.Token))
			break
		}
	}
	fmt.Fprintf(tw, "\nTry: curl -s http://%s/v1/predeclarations -H 'Authorization: Bearer officer-1'\n", apiAddr)
	fmt.Fprintf(tw, "Replay the GEnx-1B direct entry: bin/bondgate sim --gate http://%s --token gate-mro-1 fixtures/streams/genx-direct-entry.jsonl\n", gates[0].Addr)
	fmt.Fprintf(tw, "Ctrl-C stops everything cleanly.\n")
	tw.Flush()
}
