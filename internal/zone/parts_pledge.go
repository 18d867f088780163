package zone

import (
	"sort"
)

// Pledges of installed parts. The source lets a firm pledge zero-tariff
// parts already fitted to aircraft it operates, once a guarantee is lodged.
// A part's place is derived from the movements, per aircraft: installs and
// exits name the aircraft, returns come off one. A return is counted against
// the aircraft's exited parts first, so what stays installed is
// min(installed, installed + exited − returned): a pledge never covers more
// than that, and a pledged installed part cannot come back until released.

// aircraftPosition is one aircraft's share of a lot.
type aircraftPosition struct {
	registration                         string // as first written
	installed, exited, returned, pledged int
}

// out is what is on the aircraft or off the island for it.
func (a *aircraftPosition) out() int { return a.installed + a.exited - a.returned }

// installedNow is what is fitted to the aircraft now.
func (a *aircraftPosition) installedNow() int { return min(a.installed, a.out()) }

// serialPlace is where a serial that left stock is.
type serialPlace struct {
	aircraft  string // normalized registration
	installed bool   // installed (true) or off the island (false)
}

func aircraftKey(reg string) string { return normalizeIdentity(reg) }

// aircraftPositions derives each aircraft's position from the done
// movements, keyed by normalized registration.
func (l *PartsLot) aircraftPositions() map[string]*aircraftPosition {
	pos := map[string]*aircraftPosition{}
	at := func(reg string) *aircraftPosition {
		k := aircraftKey(reg)
		a, ok := pos[k]
		if !ok {
			a = &aircraftPosition{registration: reg}
			pos[k] = a
		}
		return a
	}
	for i := range l.Movements {
		m := &l.Movements[i]
		if m.Status != MovementDone {
			continue
		}
		switch {
		case m.Kind == MoveInstall:
			at(m.AircraftRegistration).installed += m.Quantity
		case m.Kind == MoveExitIsland:
			at(m.AircraftRegistration).exited += m.Quantity
		case m.Kind == MoveReturn:
			at(m.AircraftRegistration).returned += m.Quantity
		case m.Kind == MovePledge && m.Installed:
			at(m.AircraftRegistration).pledged += m.Quantity
		case m.Kind == MoveReleasePledge && m.Installed:
			at(m.AircraftRegistration).pledged -= m.Quantity
		}
	}
	return pos
}

// serialPlaces says where each serial out of stock is.
func (l *PartsLot) serialPlaces() map[string]serialPlace {
	places := map[string]serialPlace{}
	for i := range l.Movements {
		m := &l.Movements[i]
		if m.Status != MovementDone {
			continue
		}
		for _, sn := range m.Serials {
			switch m.Kind {
			case MoveInstall, MoveExitIsland:
				places[sn] = serialPlace{aircraft: aircraftKey(m.AircraftRegistration), installed: m.Kind == MoveInstall}
			case MoveReturn:
				delete(places, sn)
			}
		}
	}
	return places
}

// checkInstalledPledge checks a pledge (or release, release=true) of parts
// installed on m.AircraftRegistration.
func (l *PartsLot) checkInstalledPledge(st LotState, m *Movement, release bool) error {
	k := aircraftKey(m.AircraftRegistration)
	a := st.aircraft[k]
	if a == nil {
		a = &aircraftPosition{}
	}
	if l.Serialized() {
		places := l.serialPlaces()
		for _, sn := range m.Serials {
			p, ok := places[sn]
			switch {
			case !ok || !p.installed || p.aircraft != k:
				return Errorf(ECONFLICT, "serial %s is not installed on %s", sn, m.AircraftRegistration)
			case release && !st.Pledged[sn]:
				return Errorf(ECONFLICT, "serial %s is not pledged", sn)
			case !release && st.Pledged[sn]:
				return Errorf(ECONFLICT, "serial %s is already pledged", sn)
			}
		}
		return nil
	}
	if release {
		if m.Quantity > a.pledged {
			return Errorf(ECONFLICT, "release of %d refused: %d of lot %s are pledged installed on %s", m.Quantity, a.pledged, l.ID, m.AircraftRegistration)
		}
		return nil
	}
	free := a.installedNow() - a.pledged
	// Returns recorded before they named an aircraft are counted here too.
	if total := st.Installed + st.Exited - st.Returned - st.InstalledPledge; total < free {
		free = total
	}
	if m.Quantity > free {
		return Errorf(ECONFLICT, "pledge of %d refused: %d of lot %s are installed on %s and not pledged", m.Quantity, max(free, 0), l.ID, m.AircraftRegistration)
	}
	return nil
}

// checkReturn checks a return against the aircraft it comes off, naming
// the aircraft when the lot's parts are out on only one (or the serials say
// where they are). A pledged installed part cannot come back.
func (l *PartsLot) checkReturn(st LotState, m *Movement) error {
	if l.Serialized() {
		places := l.serialPlaces()
		k := ""
		for _, sn := range m.Serials {
			if st.Pledged[sn] {
				return Errorf(ECONFLICT, "serial %s is pledged: release the pledge before it comes off the aircraft", sn)
			}
			p := places[sn]
			if k != "" && p.aircraft != k {
				return unprocessable("serials", "one return comes off one aircraft")
			}
			k = p.aircraft
		}
		if m.AircraftRegistration != "" && aircraftKey(m.AircraftRegistration) != k {
			return Errorf(ECONFLICT, "serials %v are not on %s", m.Serials, m.AircraftRegistration)
		}
		if a := st.aircraft[k]; m.AircraftRegistration == "" && a != nil {
			m.AircraftRegistration = a.registration
		}
		return nil
	}
	if m.AircraftRegistration == "" {
		var free []string
		for k, a := range st.aircraft {
			if k != "" && a.out()-a.pledged > 0 {
				free = append(free, k)
			}
		}
		sort.Strings(free)
		switch len(free) {
		case 0:
			return Errorf(ECONFLICT, "return of %d refused: no part of lot %s is out and free of a pledge", m.Quantity, l.ID)
		case 1:
			m.AircraftRegistration = st.aircraft[free[0]].registration
		default:
			return unprocessable("aircraft_registration", "parts of this lot are out on several aircraft: name the one the part comes off")
		}
	}
	a := st.aircraft[aircraftKey(m.AircraftRegistration)]
	if a == nil {
		a = &aircraftPosition{}
	}
	if free := a.out() - a.pledged; m.Quantity > free {
		return Errorf(ECONFLICT, "return of %d refused: %d of lot %s are out on %s and not pledged (%d pledged installed)",
			m.Quantity, max(free, 0), l.ID, m.AircraftRegistration, a.pledged)
	}
	return nil
}
