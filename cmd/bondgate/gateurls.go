package main

import (
	"fmt"
	"net/url"
	"strings"
)

// parseGateURLs reads --gate-urls: comma-separated GATE=URL pairs, e.g.
// G-MRO-1=http://127.0.0.1:8081,G-MAIN=http://127.0.0.1:8082. Empty: none.
func parseGateURLs(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range splitList(v) {
		id, raw, ok := strings.Cut(pair, "=")
		id, raw = strings.TrimSpace(id), strings.TrimSpace(raw)
		if !ok || id == "" || raw == "" {
			return nil, fmt.Errorf("--gate-urls: %q is not GATE=URL", pair)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--gate-urls: %q is not an http(s) URL", raw)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--gate-urls: gate %s is named twice", id)
		}
		out[id] = strings.TrimRight(raw, "/")
	}
	return out, nil
}
