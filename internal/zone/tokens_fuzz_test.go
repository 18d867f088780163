package zone_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bondgate/bondgate/internal/zone"
)

// FuzzParseTokens reads arbitrary tokens files. ParseTokens must not panic;
// a file it accepts must let every plain token in it authenticate, as the
// principal of the first entry with that token, and refuse a token that is
// not in it.
func FuzzParseTokens(f *testing.F) {
	sum := sha256.Sum256([]byte("officer-2"))
	for _, s := range []string{
		`[{"token":"mro-hna","role":"mro","firm":"HNA-TECHNIC"},
		  {"token":"mro-gameco","role":"mro","firm":"GAMECO"},
		  {"token":"officer-1","role":"customs","officer":"HK-0031"},
		  {"token":"gate-mro-1","role":"gate","gate":"G-MRO-1"},
		  {"token":"auditor-1","role":"auditor"}]`,
		`[{"token_sha256":"` + hex.EncodeToString(sum[:]) + `","role":"customs","officer":"HK-0032"}]`,
		`[{"token":"a","token_sha256":"00","role":"auditor"}]`,
		`[{"token":"a","role":"root"}]`,
		`[{"token":"a","role":"mro"}]`,
		`[{"token":"a","role":"gate"}]`,
		`[{"token":"a","role":"auditor","extra":true}]`,
		`[{"token":"a","role":"auditor"},{"token":"a","role":"customs"}]`,
		`[{"token":" padded ","role":"auditor"}]`,
		`[]`, `{}`, `null`, `[null]`, ``, `[{"token_sha256":"zz","role":"auditor"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		toks, err := zone.ParseTokens(bytes.NewReader(file))
		if err != nil {
			return
		}
		var recs []zone.TokenRecord
		if err := json.Unmarshal(file, &recs); err != nil {
			t.Fatalf("ParseTokens accepted what encoding/json refuses: %v", err)
		}
		if toks.Len() != len(recs) {
			t.Fatalf("%d tokens from %d records", toks.Len(), len(recs))
		}
		first := map[string]zone.Principal{}
		for _, r := range recs {
			if !r.Role.Valid() {
				t.Fatalf("accepted role %q", r.Role)
			}
			if r.Token == "" {
				continue
			}
			if _, ok := first[r.Token]; !ok {
				first[r.Token] = zone.Principal{Role: r.Role, Firm: r.Firm, Officer: r.Officer, Gate: r.Gate}
			}
		}
		for tok, want := range first {
			p, err := toks.Authenticate("Bearer " + tok)
			if err != nil {
				t.Fatalf("token %q from an accepted file does not authenticate: %v", tok, err)
			}
			if p != want {
				t.Fatalf("token %q is %+v, want %+v", tok, p, want)
			}
		}
		if _, known := first["not-in-the-file"]; !known {
			if _, err := toks.Authenticate("Bearer not-in-the-file"); err == nil && !hashListed(recs, "not-in-the-file") {
				t.Fatal("a token not in the file authenticated")
			}
		}
	})
}

func hashListed(recs []zone.TokenRecord, tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	for _, r := range recs {
		if strings.EqualFold(r.TokenSHA256, hex.EncodeToString(sum[:])) {
			return true
		}
	}
	return false
}
