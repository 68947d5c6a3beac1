package awsemu_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// TestLastUsedDelay: with Options.LastUsedDelay a use shows in
// GetAccessKeyLastUsed, the credential report and AccessKey only once the
// sandbox clock has passed the use plus the delay.
func TestLastUsedDelay(t *testing.T) {
	const delay = 4 * time.Hour
	clock := awsemu.NewClock()
	clock.Freeze()
	t0 := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	clock.Set(t0)
	f := newFixture(t, awsemu.Options{Seed: 21, Clock: clock, LastUsedDelay: delay})
	ctx := context.Background()
	admin := iam.NewFromConfig(f.config(t, f.admin))
	if err := f.sb.AddUser(awsemu.UserSpec{Account: f.hub, Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	key, err := f.sb.AddAccessKey(awsemu.KeySpec{Account: f.hub, User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	bob := sts.NewFromConfig(f.config(t, key))

	// shown checks every view of bob's key: want is the last use it should
	// show, zero for none.
	shown := func(when string, want time.Time) {
		t.Helper()
		out, err := admin.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(key.AccessKeyID)})
		if err != nil {
			t.Fatal(err)
		}
		lu := out.AccessKeyLastUsed
		if got := aws.ToTime(lu.LastUsedDate); !got.Equal(want) {
			t.Errorf("%s: GetAccessKeyLastUsed %v, want %v", when, got, want)
		}
		wantService := "sts"
		if want.IsZero() {
			wantService = "N/A"
		}
		if aws.ToString(lu.ServiceName) != wantService {
			t.Errorf("%s: ServiceName %q, want %q", when, aws.ToString(lu.ServiceName), wantService)
		}
		if st, _ := f.sb.AccessKey(key.AccessKeyID); !st.LastUsed.Equal(want) {
			t.Errorf("%s: sb.AccessKey LastUsed %v, want %v", when, st.LastUsed, want)
		}
	}
	reportShows := func(when, want string) {
		t.Helper()
		if _, err := admin.GenerateCredentialReport(ctx, nil); err != nil {
			t.Fatal(err)
		}
		rep, err := admin.GetCredentialReport(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(rep.Content)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r[0] == "bob" {
				if r[10] != want {
					t.Errorf("%s: credential report access_key_1_last_used_date %q, want %q", when, r[10], want)
				}
				return
			}
		}
		t.Errorf("%s: no row for bob in the report", when)
	}

	steps := []struct {
		name    string
		advance time.Duration
		use     bool
		want    time.Time
	}{
		{"a use", 0, true, time.Time{}},
		{"a second before the delay has passed", delay - time.Second, false, time.Time{}},
		{"the delay has passed", time.Second, false, t0},
		{"a second use, 4h10m after the first", 10 * time.Minute, true, t0},
		{"a third use within 15 minutes of the second", 5 * time.Minute, true, t0},
		{"the second use's delay has passed", delay - 5*time.Minute, false, t0.Add(delay + 10*time.Minute)},
		{"the third use never shows", time.Hour, false, t0.Add(delay + 10*time.Minute)},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		if st.use {
			if _, err := bob.GetCallerIdentity(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		shown(st.name, st.want)
		if i == 0 {
			reportShows("a report right after the first use", "N/A")
		}
	}
	reportShows("a report after the delays", "2026-05-04T12:10:00+00:00")

	// Without a delay a use shows at once.
	f.sb.SetLastUsedDelay(0)
	clock.Advance(time.Hour)
	if _, err := bob.GetCallerIdentity(ctx, nil); err != nil {
		t.Fatal(err)
	}
	shown("a use after SetLastUsedDelay(0)", clock.Now())
}
