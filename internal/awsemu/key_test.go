package awsemu_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awsemu"
)

func TestKeyNeverPrintsItsSecret(t *testing.T) {
	k := awsemu.Key{AccessKeyID: "AKIAEXAMPLEEXAMPLE12", SecretAccessKey: "s3cr3t/s3cr3t+s3cr3t"}
	var buf bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		fmt.Fprintf(&buf, verb+"\n", k)
	}
	fmt.Fprintf(&buf, "%v\n", struct{ K awsemu.Key }{k})
	slog.New(slog.NewTextHandler(&buf, nil)).Info("key", "k", k)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("key", "k", k)
	if strings.Contains(buf.String(), k.SecretAccessKey) {
		t.Fatalf("secret printed:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), k.AccessKeyID) {
		t.Fatalf("key ID missing:\n%s", buf.String())
	}
}
