package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var ocsfOpts = OCSFOptions{ProductVersion: "v1.2.3"}

func TestOCSFGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderOCSF(&buf, exportDoc(), ocsfOpts); err != nil {
		t.Fatal(err)
	}
	exportGolden(t, "scan.ocsf.json", buf.Bytes())
}

// ocsfLines decodes the JSON Lines output, one generic object per line.
func ocsfLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var got []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", len(got)+1, err, sc.Text())
		}
		got = append(got, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestOCSFRequired checks the attributes OCSF 1.1.0 requires of a
// Compliance Finding, and those of the cloud profile.
func TestOCSFRequired(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderOCSF(&buf, exportDoc(), ocsfOpts); err != nil {
		t.Fatal(err)
	}
	lines := ocsfLines(t, buf.Bytes())
	if len(lines) != len(exportFindings()) {
		t.Fatalf("%d lines, want one per finding (%d)", len(lines), len(exportFindings()))
	}
	str := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		}
		return ""
	}
	get := func(m map[string]any, path string) any {
		var v any = m
		for _, p := range strings.Split(path, ".") {
			o, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = o[p]
		}
		return v
	}
	uids := map[string]bool{}
	for i, e := range lines {
		want := map[string]string{
			"class_uid": "2003", "category_uid": "2", "activity_id": "1", "type_uid": "200301",
			"metadata.version": "1.1.0", "metadata.product.name": "keywarden",
			"metadata.product.vendor_name": "keywarden", "metadata.product.version": "v1.2.3",
			"cloud.provider": "AWS", "compliance.status_id": "3", "compliance.status": "Fail",
		}
		for path, w := range want {
			if got := str(get(e, path)); got != w {
				t.Errorf("line %d: %s = %q, want %q", i+1, path, got, w)
			}
		}
		for _, path := range []string{"time", "severity_id", "finding_info.uid", "finding_info.title",
			"finding_info.desc", "cloud.account.uid", "remediation.desc", "compliance.control"} {
			if str(get(e, path)) == "" {
				t.Errorf("line %d: %s missing", i+1, path)
			}
		}
		if s, _ := get(e, "compliance.standards").([]any); len(s) == 0 {
			t.Errorf("line %d: no compliance.standards", i+1)
		}
		if r, _ := e["resources"].([]any); len(r) == 0 {
			t.Errorf("line %d: no resources", i+1)
		}
		uid := str(get(e, "finding_info.uid"))
		if uids[uid] {
			t.Errorf("finding_info.uid %s twice", uid)
		}
		uids[uid] = true
	}
	// The uid is the ASFF Id: the same finding in either format.
	for i, f := range ASFF(exportDoc(), asffOpts) {
		if got := str(get(lines[i], "finding_info.uid")); got != f.ID {
			t.Errorf("line %d: finding_info.uid %s, ASFF Id %s", i+1, got, f.ID)
		}
	}
}

func TestOCSFSeverityAndStatus(t *testing.T) {
	type sv struct {
		SeverityID int
		Severity   string
		StatusID   int
		Status     string
		Detail     string
	}
	var got []sv
	for _, e := range OCSF(exportDoc(), ocsfOpts) {
		got = append(got, sv{e.SeverityID, e.Severity, e.StatusID, e.Status, e.Compliance.StatusDetail})
	}
	want := []sv{
		{5, "Critical", 1, "New", ""},
		{2, "Low", 1, "New", ""},
		{1, "Informational", 1, "New", ""},
		{4, "High", 1, "New", ""},
		{5, "Critical", 1, "New", ""},
		{3, "Medium", 3, "Suppressed", "Exempt until 2026-06-30 (keywarden.yaml:14): vendor integration <no rotation API>."},
		{3, "Medium", 1, "New", ""},
		{3, "Medium", 1, "New", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("severity and status (-want +got):\n%s", diff)
	}
}

func TestOCSFCompliance(t *testing.T) {
	e := OCSF(exportDoc(), ocsfOpts)
	maxAge := e[3].Compliance
	want := OCSFCompliance{
		Control:   "max_age",
		Standards: []string{"CIS AWS Foundations Benchmark v1.2.0", "CIS AWS Foundations Benchmark v1.4.0–v4.0.1", "AWS Security Hub"},
		Requirements: []string{
			"CIS AWS Foundations Benchmark v1.2.0 1.4", "CIS AWS Foundations Benchmark v1.4.0–v4.0.1 1.14", "AWS Security Hub IAM.3",
		},
		Status: "Fail", StatusID: 3,
	}
	if diff := cmp.Diff(want, maxAge); diff != "" {
		t.Errorf("compliance of max_age (-want +got):\n%s", diff)
	}
	// A rule without controls is judged against keywarden's policy.
	if got := e[1].Compliance.Standards; !cmp.Equal(got, []string{"keywarden policy"}) {
		t.Errorf("standards of unused_initial = %q", got)
	}
}

func TestOCSFEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureDoc(), FormatOCSF); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("output %q for no findings, want nothing", buf.String())
	}
}
