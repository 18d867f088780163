package gateway

import (
	"crypto/subtle"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/bondgate/bondgate/internal/zone"
)

// authenticateDevice decides whether the caller may post as device id of
// the given kind. Cameras cannot send bearer tokens, so a device may use
// HTTP Basic (its list entry's user and password, held hashed), a client
// certificate whose CN is its ID, or the gate's own token (or the gate's
// certificate). Credentials of another device are refused with 403, none
// or unknown ones with 401 and a Basic challenge.
func (s *Service) authenticateDevice(c echo.Context, id, kind string) (Device, error) {
	r := c.Request()
	challenge := func(msg string) error {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="bondgate gate `+s.cfg.GateID+`", charset="UTF-8"`)
		return zone.Errorf(zone.EUNAUTHORIZED, "%s", msg)
	}
	auth := r.Header.Get(echo.HeaderAuthorization)
	switch {
	case strings.HasPrefix(strings.ToLower(auth), "basic "):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Device{}, challenge("malformed Basic credentials")
		}
		who := s.basicDevice(user, pass)
		if who == "" {
			return Device{}, challenge("unknown device credentials")
		}
		if who != id {
			return Device{}, zone.Errorf(zone.EFORBIDDEN, "these are the credentials of device %s, not %s", who, id)
		}
	case auth != "":
		p, err := s.cfg.Tokens.Authenticate(auth)
		if err != nil {
			return Device{}, err
		}
		if p.Role != zone.RoleGate || p.Gate != s.cfg.GateID {
			return Device{}, zone.Errorf(zone.EFORBIDDEN, "only this gate's token or device credentials may post hardware events")
		}
	default:
		cn := verifiedCN(c)
		switch cn {
		case "":
			return Device{}, challenge("device credentials are required (HTTP Basic, a client certificate or the gate token)")
		case id, s.cfg.GateID:
		default:
			return Device{}, zone.Errorf(zone.EFORBIDDEN, "the client certificate is for %s, not %s", cn, id)
		}
	}
	d, ok := s.devices[id]
	if !ok {
		return Device{}, zone.Errorf(zone.ENOTFOUND, "device %s is not in this gate's device list", id)
	}
	if d.Kind != kind {
		return Device{}, zone.Errorf(zone.ENOTFOUND, "device %s is a %s device, not %s", id, d.Kind, kind)
	}
	return d, nil
}

// basicDevice returns the device whose Basic credentials these are, "" for
// none. Every listed hash is compared in constant time, so the answer's
// timing says nothing about which user exists.
func (s *Service) basicDevice(user, pass string) string {
	got := []byte(passwordHash(pass))
	found := ""
	for _, d := range s.devices {
		if d.Basic == nil {
			continue
		}
		hashOK := subtle.ConstantTimeCompare(got, []byte(d.Basic.PasswordSHA256)) == 1
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(d.Basic.User)) == 1
		if hashOK && userOK {
			found = d.ID
		}
	}
	return found
}

// verifiedCN is the CN of a verified client certificate, "" without one.
func verifiedCN(c echo.Context) string {
	st := c.Request().TLS
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}
