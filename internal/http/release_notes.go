package http

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/xml"
	"html/template"
	"mime"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/bondgate/bondgate/internal/web"
	"github.com/bondgate/bondgate/internal/zone"
)

// ReleaseNoteContentSecurityPolicy is the printable page's policy: its
// stylesheet (a console asset) and the QR code (a data: image), nothing else.
const ReleaseNoteContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed releasenote/page.html
var releaseNoteFiles embed.FS

var releaseNotePage = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"cst": func(t time.Time) string { return zone.InShanghai(t).Format("2006-01-02 15:04:05") },
}).ParseFS(releaseNoteFiles, "releasenote/page.html"))

func (s *Server) routeReleaseNotes() {
	s.Handle(nethttp.MethodGet, "/predeclarations/:id/release-note", s.getReleaseNote, zone.RoleMRO, zone.RoleCustoms)
}

// getReleaseNote answers the note as JSON, a printable Chinese page
// (text/html) or the customs message (application/xml), by Accept.
func (s *Server) getReleaseNote(c echo.Context) error {
	v, err := s.cfg.Declarations.ReleaseNote(c.Request().Context(), web.PrincipalOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	switch noteFormat(c.Request().Header.Get(echo.HeaderAccept)) {
	case "html":
		return renderNotePage(c, v)
	case "xml":
		body, err := xml.MarshalIndent(passportOf(v), "", "  ")
		if err != nil {
			return zone.Internal(err)
		}
		return c.Blob(nethttp.StatusOK, "application/xml; charset=utf-8", append([]byte(xml.Header), body...))
	}
	return web.JSON(c, nethttp.StatusOK, v)
}

// noteFormat picks the first of JSON, HTML and XML that Accept names (a
// browser's Accept names text/html first); JSON without one.
func noteFormat(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/html":
			return "html"
		case "application/xml", "text/xml":
			return "xml"
		case echo.MIMEApplicationJSON:
			return "json"
		}
	}
	return "json"
}

// notePage is what the printable page shows, in Chinese.
type notePage struct {
	*zone.ReleaseNoteView
	QR         template.URL
	StateLabel string
	DirLabel   string
	Conveyance [][2]string // label, value
	Goods      [][2]string
}

var (
	noteStateLabels = map[zone.NoteState]string{zone.NoteIssued: "已审批", zone.NotePassed: "已过卡", zone.NoteVoid: "已作废"}
	dirLabels       = map[zone.Direction]string{zone.In: "进区", zone.Out: "出区"}
	regimeLabels    = map[zone.Regime]string{zone.RegimeBondedMaintenance: "保税维修", zone.RegimeTemporaryEntryRepair: "暂时进境修理", zone.RegimeZeroTariff: "零关税"}
	kindLabels      = map[zone.ObjectKind]string{zone.KindEngine: "航空发动机", zone.KindAircraft: "航空器", zone.KindEquipment: "设备", zone.KindParts: "航材"}
)

func renderNotePage(c echo.Context, v *zone.ReleaseNoteView) error {
	png, err := qrcode.Encode(v.Number, qrcode.Medium, 256)
	if err != nil {
		return zone.Internal(err)
	}
	p := notePage{ReleaseNoteView: v, StateLabel: noteStateLabels[v.State], DirLabel: dirLabels[v.Direction],
		QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}
	add := func(list *[][2]string, label, value string) {
		if value != "" {
			*list = append(*list, [2]string{label, value})
		}
	}
	add(&p.Conveyance, "托架号", v.Conveyance.StandTag)
	add(&p.Conveyance, "车牌号", v.Conveyance.VehiclePlate)
	if v.Object.Kind == zone.KindAircraft {
		add(&p.Conveyance, "航空器注册号", v.Object.Registration)
	}
	o := v.Object
	add(&p.Goods, "类别", kindLabels[o.Kind])
	add(&p.Goods, "型号", o.Model+o.Type)
	add(&p.Goods, "序列号", o.ESN)
	add(&p.Goods, "注册号", o.Registration)
	add(&p.Goods, "件号", o.PartNumber)
	add(&p.Goods, "品名", o.Description)
	if o.Quantity > 0 {
		add(&p.Goods, "数量", strconv.Itoa(o.Quantity))
	}
	add(&p.Goods, "所有人", o.Owner)
	add(&p.Goods, "商品编码", v.HSCode)
	add(&p.Goods, "监管方式", regimeLabels[v.Regime])
	add(&p.Goods, "申报价值", v.DeclaredValue.Amount+" "+v.DeclaredValue.Currency)
	var buf bytes.Buffer
	if err := releaseNotePage.Execute(&buf, p); err != nil {
		return zone.Internal(err)
	}
	c.Response().Header().Set("Content-Security-Policy", ReleaseNoteContentSecurityPolicy)
	return c.HTMLBlob(nethttp.StatusOK, buf.Bytes())
}

// passport is the release note as the customs release-note (核放单)
// message names its fields; fixtures/release-note.xsd describes it.
type passport struct {
	XMLName xml.Name      `xml:"Passport"`
	Head    passportHead  `xml:"PassportHead"`
	Goods   []passportGds `xml:"PassportList>PassportGoods"`
}

type passportHead struct {
	PassportNo     string `xml:"passportNo"`
	PassportTypecd string `xml:"passportTypecd"` // 2: 一线一体化进出区
	IoTypecd       string `xml:"ioTypecd"`       // I in, E out
	VehicleNo      string `xml:"vehicleNo"`
	RltNo          string `xml:"rltNo"` // the related document: the pre-declaration
	DclEtpsNm      string `xml:"dclEtpsNm"`
	MasterCuscd    string `xml:"masterCuscd"`
	GateNo         string `xml:"gateNo"`
	ValidFrom      string `xml:"validFrom"`
	ValidTo        string `xml:"validTo"`
	ApprOfficer    string `xml:"apprOfficer"`
	DclTime        string `xml:"dclTime"`
	Stucd          string `xml:"stucd"` // 2 已审批, 3 已过卡, 9 已作废
	Void           bool   `xml:"void"`
	PassTime       string `xml:"passTime,omitempty"`
}

type passportGds struct {
	GdsSeqno         int    `xml:"gdsSeqno"`
	GdsMtno          string `xml:"gdsMtno"` // serial, registration or part number
	Gdecd            string `xml:"gdecd"`   // HS code
	GdsNm            string `xml:"gdsNm"`
	GdsSpcfModelDesc string `xml:"gdsSpcfModelDesc"`
	DclQty           int    `xml:"dclQty"`
	DclTotalAmt      string `xml:"dclTotalAmt"`
	DclCurrcd        string `xml:"dclCurrcd"`
}

var noteStucd = map[zone.NoteState]string{zone.NoteIssued: "2", zone.NotePassed: "3", zone.NoteVoid: "9"}

func passportOf(v *zone.ReleaseNoteView) passport {
	io := "I"
	if v.Direction == zone.Out {
		io = "E"
	}
	vehicle := v.Conveyance.VehiclePlate
	if vehicle == "" && len(v.Identities) > 0 {
		vehicle = v.Identities[0].Value
	}
	district := strings.TrimLeft(strings.SplitN(v.Number, "-", 2)[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	h := passportHead{PassportNo: v.Number, PassportTypecd: "2", IoTypecd: io, VehicleNo: vehicle, RltNo: v.DeclarationID,
		DclEtpsNm: v.Firm, MasterCuscd: district, GateNo: v.Gate, ValidFrom: v.Window.From.Format(time.RFC3339),
		ValidTo: v.Window.To.Format(time.RFC3339), ApprOfficer: v.Officer, DclTime: v.IssuedAt.Format(time.RFC3339),
		Stucd: noteStucd[v.State], Void: v.Void}
	if v.CrossedAt != nil {
		h.PassTime = v.CrossedAt.Format(time.RFC3339)
	}
	o := v.Object
	name := kindLabels[o.Kind]
	if o.Description != "" {
		name = o.Description
	}
	mtno := o.ESN + o.Registration
	if mtno == "" {
		mtno = o.PartNumber
	}
	qty := o.Quantity
	if qty == 0 {
		qty = 1
	}
	return passport{Head: h, Goods: []passportGds{{GdsSeqno: 1, GdsMtno: mtno, Gdecd: v.HSCode, GdsNm: name,
		GdsSpcfModelDesc: o.Model + o.Type, DclQty: qty, DclTotalAmt: v.DeclaredValue.Amount, DclCurrcd: v.DeclaredValue.Currency}}}
}
