package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bondgate/bondgate/internal/zone"
)

// The hardware fields of a device list are read by kind, with defaults.
func TestDeviceListReadsHardwareFields(t *testing.T) {
	ds, err := ParseDevices([]byte(`[
	 {"id":"CAM-1","kind":"isapi","segment":1,"channel":1,"direction":"in","read_kind":"stand_tag",
	  "basic":{"user":"cam1","password_sha256":"` + sha256hex("s3cret") + `"}},
	 {"id":"CAM-2","kind":"onvif","segment":1,"onvif_pull":"http://10.0.0.7/onvif/device_service","object_class":"engine"},
	 {"id":"IO-1","kind":"modbus","address":"10.0.0.5:502","unit":3,"poll":"10ms",
	  "inputs":[{"input":0,"segment":1,"beam":"A"},{"input":1,"segment":1,"beam":"B"}]},
	 {"id":"IO-2","kind":"modbus","address":"10.0.0.6:502","inputs":[{"input":4,"segment":2,"beam":"A"}]}]`))
	require.NoError(t, err)
	assert.Equal(t, &BasicCredentials{User: "cam1", PasswordSHA256: sha256hex("s3cret")}, ds[0].Basic)
	assert.Equal(t, zone.In, ds[0].Direction)
	assert.Equal(t, "stand_tag", ds[0].ReadKind)
	assert.Equal(t, "http://10.0.0.7/onvif/device_service", ds[1].ONVIFPull)
	assert.Equal(t, 3, ds[2].Unit)
	assert.Equal(t, 10*time.Millisecond, ds[2].Poll)
	assert.Equal(t, []BeamInput{{0, 1, "A"}, {1, 1, "B"}}, ds[2].Inputs)
	assert.Equal(t, 1, ds[3].Unit, "unit defaults to 1")
	assert.Equal(t, DefaultPoll, ds[3].Poll)
	assert.Equal(t, TableDiscreteInputs, ds[3].Table)
	assert.Equal(t, EdgeFalling, ds[3].BreakEdge)
}

// A wrong field is refused at start, naming the entry and the field.
func TestDeviceListNamesTheBadEntryAndField(t *testing.T) {
	const in = `"inputs":[{"input":0,"segment":1,"beam":"A"}]`
	for body, field := range map[string]string{
		`[{"id":"C","kind":"isapi","basic":{"user":"u","password_sha256":"plain"}}]`:                                                                                                            "[0].basic.password_sha256",
		`[{"id":"C","kind":"isapi","basic":{"password_sha256":"` + sha256hex("x") + `"}}]`:                                                                                                      "[0].basic.user",
		`[{"id":"C","kind":"isapi","basic":{"user":"u","password_sha256":"` + sha256hex("x") + `"}},{"id":"D","kind":"onvif","basic":{"user":"u","password_sha256":"` + sha256hex("y") + `"}}]`: "[1].basic.user",
		`[{"id":"C","kind":"isapi","read_kind":"face"}]`:                                                                                                                                        "[0].read_kind",
		`[{"id":"C","kind":"isapi","direction":"up"}]`:                                                                                                                                          "[0].direction",
		`[{"id":"C","kind":"isapi","onvif_pull":"http://x"}]`:                                                                                                                                   "[0].onvif_pull",
		`[{"id":"C","kind":"onvif","onvif_pull":"ftp://x"}]`:                                                                                                                                    "[0].onvif_pull",
		`[{"id":"C","kind":"json","address":"h:502"}]`:                                                                                                                                          "[0].address",
		`[{"id":"C","kind":"json"},{"id":"IO","kind":"modbus",` + in + `}]`:                                                                                                                     "[1].address",
		`[{"id":"IO","kind":"modbus","address":"nohost"},` + `{"id":"X","kind":"json"}]`:                                                                                                        "[0].address",
		`[{"id":"IO","kind":"modbus","address":"h:502","poll":"1h",` + in + `}]`:                                                                                                                "[0].poll",
		`[{"id":"IO","kind":"modbus","address":"h:502"}]`:                                                                                                                                       "[0].inputs",
		`[{"id":"IO","kind":"modbus","address":"h:502","inputs":[{"input":0,"segment":1,"beam":"C"}]}]`:                                                                                         "[0].inputs[0].beam",
		`[{"id":"IO","kind":"modbus","address":"h:502","inputs":[{"input":0,"segment":1,"beam":"A"},{"input":0,"segment":1,"beam":"B"}]}]`:                                                      "[0].inputs[1].input",
		`[{"id":"IO","kind":"modbus","address":"h:502","inputs":[{"input":0,"segment":1,"beam":"A"},{"input":1,"segment":1,"beam":"A"}]}]`:                                                      "[0].inputs[1].beam",
	} {
		_, err := ParseDevices([]byte(body))
		require.Error(t, err, body)
		fs := zone.ErrorFields(err)
		require.NotEmpty(t, fs, body)
		assert.Equal(t, field, fs[0].Field, body)
	}
}

func sha256hex(s string) string { return passwordHash(s) }
