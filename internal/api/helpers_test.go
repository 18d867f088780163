package api

import "time"

// engineBody is the contract's engine example with a window containing now
// (a window already over is refused).
var engineBody = `{"object":{"kind":"engine","esn":"956-482","model":"GEnx-1B","owner":"Qatar Airways"},
 "direction":"in","gate":"G-MRO-1",
 "window":{"from":"` + time.Now().UTC().Add(-time.Hour).Format(time.RFC3339) + `","to":"` +
	time.Now().UTC().Add(5*time.Hour).Format(time.RFC3339) + `"},
 "regime":"bonded_maintenance","declared_value":{"amount":"182000000.00","currency":"CNY"},
 "hs_code":"84111200","conveyance":{"stand_tag":"STAND-0042","vehicle_plate":"琼A·D1234"}}`
