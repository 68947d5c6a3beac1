package cli

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestVersionLdflags checks that the version set with -ldflags -X wins over
// the build info, in both output forms.
func TestVersionLdflags(t *testing.T) {
	old := version
	version = "v1.2.3"
	t.Cleanup(func() { version = old })

	var line bytes.Buffer
	if err := runVersion(VersionOptions{}, &line); err != nil {
		t.Fatal(err)
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	want := "keywarden v1.2.3 (" + runtime.Version() + ", " + platform + ")\n"
	if diff := cmp.Diff(want, line.String()); diff != "" {
		t.Errorf("version line (-want +got):\n%s", diff)
	}

	var js bytes.Buffer
	if err := runVersion(VersionOptions{JSON: true}, &js); err != nil {
		t.Fatal(err)
	}
	var got versionJSON
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatalf("version --json: %v\n%s", err, js.String())
	}
	wantJSON := versionJSON{SchemaVersion: 1, Version: "v1.2.3", Go: runtime.Version(), Platform: platform}
	if diff := cmp.Diff(wantJSON, got); diff != "" {
		t.Errorf("version --json (-want +got):\n%s", diff)
	}
}
