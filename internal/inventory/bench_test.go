package inventory_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keywarden/keywarden/bench/benchorg"
	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
)

// BenchmarkScan scans a sandbox organization through HTTP and the AWS SDK
// with inventory.Scan, through a hub as "keywarden scan --org" does, on
// both sources, without and with latency on every call. (The engine above
// it is measured by the bench/scan driver: the inventory's tests may not
// import it.) Besides the time per scan it reports:
//
//	calls/account       API calls per member account (AssumeRole included)
//	calls/flagged-user  ListAccessKeys and GetAccessKeyLastUsed calls per user needing attention
//	calls/user          the same per user
//	ms/account          mean time to read one account
//	B/key               the inventory's retained heap per access key
//
// Whole organizations at scale are measured by the bench/scan driver
// (docs/performance.md).
func BenchmarkScan(b *testing.B) {
	const accounts, users, flagged = 20, 50, 0.1
	for _, source := range []inventory.Source{inventory.SourceReport, inventory.SourceAPI} {
		for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
			name := fmt.Sprintf("source=%s/%dx%d/latency=%v", source, accounts, users, latency)
			b.Run(name, func(b *testing.B) {
				benchScan(b, benchorg.Spec{Accounts: accounts, Users: users, Flagged: flagged, Seed: 1}, source, latency)
			})
		}
	}
}

// BenchmarkScanSlow scans 20 accounts, 5 ms a call, with every credential
// report in progress for 2 polls (a first scan), and with every account
// throttled at 20 calls a second (burst 10), half of its 50 users flagged.
// Besides BenchmarkScan's figures it reports x/bound, the time per scan
// over the least the waits, the latency and the throttle allow
// (benchorg.ScanBound).
func BenchmarkScanSlow(b *testing.B) {
	const latency = 5 * time.Millisecond
	b.Run("reports=2-polls/20x50", func(b *testing.B) {
		benchScanWith(b, benchorg.Spec{Accounts: 20, Users: 50, Flagged: 0.1, Seed: 1}, inventory.SourceReport, latency,
			benchorg.Reading{ReportPolls: 2})
	})
	b.Run("throttle=20-per-s/20x50", func(b *testing.B) {
		benchScanWith(b, benchorg.Spec{Accounts: 20, Users: 50, Flagged: 0.5, Seed: 1}, inventory.SourceReport, latency,
			benchorg.Reading{ThrottleRate: 20, ThrottleBurst: 10})
	})
}

func benchScan(b *testing.B, spec benchorg.Spec, source inventory.Source, latency time.Duration) {
	benchScanWith(b, spec, source, latency, benchorg.Reading{})
}

// benchScanWith scans with the sandbox's reports and throttle set as rd says.
func benchScanWith(b *testing.B, spec benchorg.Spec, source inventory.Source, latency time.Duration, rd benchorg.Reading) {
	ctx := context.Background()
	sb := awsemu.New(awsemu.Options{Seed: spec.Seed, ReportInProgressPolls: rd.ReportPolls})
	org, err := benchorg.Seed(sb, spec)
	if err != nil {
		b.Fatal(err)
	}
	sb.SetFaults(awsemu.Fault{Latency: latency, ThrottleRate: rd.ThrottleRate, ThrottleBurst: rd.ThrottleBurst})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	sess, err := benchorg.Connect(ctx, benchorg.Target{Endpoint: srv.URL, Admin: org.Admin, RoleName: org.RoleName})
	if err != nil {
		b.Fatal(err)
	}
	hub, err := sess.NewHub(ctx)
	if err != nil {
		b.Fatal(err)
	}
	found, err := inventory.Discover(ctx, organizations.NewFromConfig(hub.Base), hub.Account, inventory.Selection{Organization: true})
	if err != nil {
		b.Fatal(err)
	}
	// Each scan gets a hub of its own, so that it pays for its AssumeRole
	// calls as a run does. Identifying the caller for it is not timed: a
	// run does that before discovery.
	newHub := func() *awsx.Hub {
		hub, err := sess.NewHub(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return hub
	}
	opts := inventory.Options{Source: source}
	scan := func(hub *awsx.Hub) *inventory.Inventory {
		inv, err := inventory.Scan(ctx, found.Accounts, hub.Config, opts)
		if err != nil {
			b.Fatal(err)
		}
		if failed := inv.Failed(); len(failed) > 0 {
			b.Fatalf("%d accounts failed, the first: %s", len(failed), failed[0].Error)
		}
		return inv
	}

	sb.ResetCalls()
	var memberCalls, reads int
	var readTime time.Duration
	scans := 0
	for b.Loop() {
		b.StopTimer()
		if rd.ReportPolls > 0 {
			// Each scan finds the reports expired, as a daily scan does.
			sb.Clock().Advance(4*time.Hour + time.Minute)
		}
		hub := newHub()
		b.StartTimer()
		inv := scan(hub)
		scans++
		for _, a := range inv.Accounts {
			if a.Account.ID != org.Management {
				memberCalls += a.Calls
			}
			readTime += a.Duration
			reads++
		}
	}
	b.StopTimer()
	if rd.ReportPolls > 0 || rd.ThrottleRate > 0 {
		rd.Source = source
		bound := benchorg.ScanBound(org, rd, latency).LowerBound
		b.ReportMetric(float64(b.Elapsed())/float64(scans)/float64(bound), "x/bound")
	}
	perUser := 0
	for _, c := range sb.Calls() {
		if c.Account != org.Management && (c.Operation == "ListAccessKeys" || c.Operation == "GetAccessKeyLastUsed") {
			perUser += c.Calls
		}
	}
	members := float64(scans * len(org.Members))
	b.ReportMetric(float64(memberCalls)/members, "calls/account")
	b.ReportMetric(float64(perUser)/float64(scans*org.Flagged), "calls/flagged-user")
	b.ReportMetric(float64(perUser)/float64(scans*(org.Users-1)), "calls/user")
	b.ReportMetric(float64(readTime.Milliseconds())/float64(reads), "ms/account")

	// The inventory's own heap: the live heap with and without it.
	inv := scan(newHub())
	keys := 0
	for _, a := range inv.Accounts {
		for _, u := range a.Users {
			keys += len(u.Keys)
		}
	}
	with := liveHeap()
	runtime.KeepAlive(inv)
	inv = nil
	b.ReportMetric(float64(int64(with)-int64(liveHeap()))/float64(keys), "B/key")
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
