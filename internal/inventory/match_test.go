package inventory

import (
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// TestMatchSlots: which of a user's live keys the credential report gives
// the last use of, and which must be read live (GetAccessKeyLastUsed).
func TestMatchSlots(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	used := t0.Add(48 * time.Hour)
	live := func(status string, created time.Time) Key {
		return Key{ID: "AKIA" + status + created.Format("150405.000000"), Status: status, CreatedAt: created}
	}
	slot := func(n int, status string, created, lastUsed time.Time, service string) Key {
		k := Key{Slot: n, Status: status, CreatedAt: created, LastUsedAt: lastUsed, LastUsedService: service}
		if service != "" {
			k.LastUsedRegion = "eu-west-1"
		}
		return k
	}
	var never time.Time
	const A, I = StatusActive, StatusInactive
	matched := func(i int) slotMatch { return slotMatch{slot: i, lastUse: -1} }
	lastUseOf := func(i int) slotMatch { return slotMatch{slot: -1, lastUse: i} }
	readLive := slotMatch{slot: -1, lastUse: -1}
	newer := slotMatch{slot: -1, lastUse: -1, newer: true}

	tests := []struct {
		name   string
		live   []Key
		report []Key
		want   []slotMatch
	}{
		{"one key", []Key{live(A, t0)}, []Key{slot(1, A, t0, used, "s3")}, []slotMatch{matched(0)}},
		{"no report row (a user newer than the report, or the API path)", []Key{live(A, t0), live(A, t1)}, nil,
			[]slotMatch{newer, newer}},
		{"a key newer than the report", []Key{live(A, t0), live(A, t1)}, []Key{slot(1, A, t0, used, "s3")},
			[]slotMatch{matched(0), newer}},
		{"two keys, created apart", []Key{live(A, t1), live(I, t0)},
			[]Key{slot(2, I, t0, never, ""), slot(1, A, t1, used, "s3")}, []slotMatch{matched(1), matched(0)}},
		{"live creation with microseconds (moto)", []Key{live(A, t0.Add(123456*time.Microsecond))},
			[]Key{slot(1, A, t0, used, "s3")}, []slotMatch{matched(0)}},
		{"report creation with a fraction of a second", []Key{live(A, t0)},
			[]Key{slot(1, A, t0.Add(500*time.Millisecond), used, "s3")}, []slotMatch{matched(0)}},
		{"a deactivated key keeps its slot", []Key{live(I, t0)}, []Key{slot(1, A, t0, used, "s3")}, []slotMatch{matched(0)}},

		// Two keys created in the same second.
		{"same second, told apart by status", []Key{live(A, t0), live(I, t0)},
			[]Key{slot(1, I, t0, used, "ec2"), slot(2, A, t0, never, "")}, []slotMatch{matched(1), matched(0)}},
		{"same second, same status, never used", []Key{live(A, t0), live(A, t0)},
			[]Key{slot(1, A, t0, never, ""), slot(2, A, t0, never, "")}, []slotMatch{lastUseOf(0), lastUseOf(0)}},
		{"same second, same status, used alike", []Key{live(A, t0), live(A, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, A, t0, used, "s3")}, []slotMatch{lastUseOf(0), lastUseOf(0)}},
		{"same second, same status, used apart", []Key{live(A, t0), live(A, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, A, t0, never, "")}, []slotMatch{readLive, readLive}},
		{"same second, used with different services", []Key{live(A, t0), live(A, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, A, t0, used, "ec2")}, []slotMatch{readLive, readLive}},
		{"same second, one deactivated since: status no help", []Key{live(I, t0), live(I, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, I, t0, never, "")}, []slotMatch{readLive, readLive}},
		{"same second, one deactivated since, never used", []Key{live(I, t0), live(I, t0)},
			[]Key{slot(1, A, t0, never, ""), slot(2, I, t0, never, "")}, []slotMatch{lastUseOf(0), lastUseOf(0)}},
		{"same second, one deleted since, status tells", []Key{live(I, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, I, t0, never, "")}, []slotMatch{matched(1)}},
		{"same second, one deleted since, status no help", []Key{live(A, t0)},
			[]Key{slot(1, A, t0, used, "s3"), slot(2, A, t0, never, "")}, []slotMatch{readLive}},
		{"same second, one deleted since, used alike", []Key{live(A, t0)},
			[]Key{slot(1, A, t0, never, ""), slot(2, A, t0, never, "")}, []slotMatch{lastUseOf(0)}},
		{"same second, one created since, status tells", []Key{live(A, t0), live(I, t0)},
			[]Key{slot(1, I, t0, used, "s3")}, []slotMatch{readLive, matched(0)}},
		{"same second, one created since, status no help", []Key{live(A, t0), live(A, t0)},
			[]Key{slot(1, A, t0, never, "")}, []slotMatch{readLive, readLive}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := matchSlots(tt.live, tt.report)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(slotMatch{})); diff != "" {
				t.Errorf("matchSlots (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseCredentialReportCopies: nothing parsed from a report keeps the
// report's rows in memory, and the values that repeat are kept once.
func TestParseCredentialReportCopies(t *testing.T) {
	row := func(name string) string {
		return name + ",arn:aws:iam::123456789012:user/" + name + ",2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false," +
			"true,2024-01-01T00:00:00+00:00,2026-01-01T00:00:00+00:00,eu-west-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
	}
	rep, err := ParseCredentialReport([]byte(reportHeader + "\n" + row("alice") + row("bob")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Users) != 2 {
		t.Fatalf("%d users, want 2", len(rep.Users))
	}
	addr := func(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
	for _, e := range rep.Users {
		// Substrings of the row would lie side by side (encoding/csv keeps
		// a record's fields in one string, without the commas).
		if gap := addr(e.ARN) - addr(e.User); gap == uintptr(len(e.User)) || gap == uintptr(len(e.User))+1 {
			t.Errorf("%s: the user name and ARN are parts of the row", e.User)
		}
	}
	a, b := rep.Users[0].Keys[0], rep.Users[1].Keys[0]
	if a.LastUsedRegion != "eu-west-1" || a.LastUsedService != "s3" {
		t.Fatalf("alice's key last used with %q in %q, want s3 in eu-west-1", a.LastUsedService, a.LastUsedRegion)
	}
	if addr(a.LastUsedRegion) != addr(b.LastUsedRegion) || addr(a.LastUsedService) != addr(b.LastUsedService) {
		t.Errorf("the region and service of last use are kept once per row, not once per report")
	}
}
