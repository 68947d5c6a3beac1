// Command scan measures a whole-organization "keywarden scan" against the
// sandbox: it seeds N member accounts × U users (a chosen fraction of them
// needing attention), adds the same latency to every call, discovers the
// organization and scans it exactly as the CLI does, then prints the wall
// time beside the lower bound that the latency allows, the API calls per
// account and per flagged user, and the memory used.
//
// It runs the scan through the engine, as "keywarden scan --org" does:
// awsx.Load, one hub (awsx.NewHub), engine.Discover, then
// engine.ReadAccounts with the default policy and no state store. With
// -format it then judges the scan and renders it in that format, as
// "keywarden scan --format" does, and prints what that cost.
//
//	go run ./bench/scan -accounts 1000 -users 200 -flagged 0.1 -latency 20ms -source report -parallel 32
//
// By default the sandbox runs inside the process, so the process's peak
// RSS includes the sandbox's own copy of every key. With -sandbox process
// it runs in a child process, and the peak RSS printed is keywarden's
// alone. The inventory's retained heap is measured either way: the Go heap
// with and without the *inventory.Inventory held.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/keywarden/keywarden/bench/benchorg"
	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
)

type options struct {
	accounts, users int
	flagged         float64
	kind            string
	latency, jitter time.Duration
	source          string
	keyIDs          string
	parallel        int
	userParallel    int
	seed            uint64
	sandbox         string
	skipSigV4       bool
	jsonOut         bool
	serve           bool // internal: be the sandbox child process
	idleConns       int
	cpuProfile      string
	memProfile      string
	format          string
	output          string
	reportPolls     int
	throttleRate    float64
	throttleBurst   int
}

func main() {
	var o options
	flag.IntVar(&o.accounts, "accounts", 100, "member `accounts` (the management account comes on top)")
	flag.IntVar(&o.users, "users", 200, "IAM `users` per member account")
	flag.Float64Var(&o.flagged, "flagged", 0.1, "`fraction` of each account's users whose keys need attention")
	flag.StringVar(&o.kind, "flag-kind", "mix", "how flagged users are flagged: old (one key >100 days), two (two active keys) or mix")
	flag.DurationVar(&o.latency, "latency", 20*time.Millisecond, "latency the sandbox adds to every call")
	flag.DurationVar(&o.jitter, "jitter", 0, "plus a uniform random latency in [0, jitter)")
	flag.StringVar(&o.source, "source", "report", "read keys from the credential `report` or the IAM `api`")
	flag.StringVar(&o.keyIDs, "key-ids", string(engine.KeyIDsAttention), "on the report path, read key IDs for keys needing `attention`, all or none")
	flag.IntVar(&o.parallel, "parallel", inventory.DefaultParallel, "accounts read at once (--parallel)")
	flag.IntVar(&o.userParallel, "user-parallel", inventory.DefaultUserParallel, "per-user calls at once within an account")
	flag.Uint64Var(&o.seed, "seed", 1, "seed for identifiers, flagged users and ages")
	flag.StringVar(&o.sandbox, "sandbox", "inproc", "run the sandbox in this process (inproc) or in a child process (process)")
	flag.BoolVar(&o.skipSigV4, "skip-sigv4", false, "the sandbox skips signature checks (less sandbox CPU; the client still signs)")
	flag.BoolVar(&o.jsonOut, "json", false, "print the results as JSON")
	flag.BoolVar(&o.serve, "serve", false, "internal: run as the sandbox child of -sandbox process")
	flag.IntVar(&o.idleConns, "idle-conns", 0, "keep this many idle HTTP connections per host (0: keywarden's own HTTP client, which keeps 256)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of discovery and scan to `file`")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile, taken while the inventory is held, to `file`")
	flag.StringVar(&o.format, "format", "", "after the scan, judge it by the default policy and render it in this `format` (table, json, csv, html, markdown, asff, ocsf), as keywarden scan --format does; none when empty")
	flag.StringVar(&o.output, "output", "", "write the rendered scan to `file` (default: count its bytes and drop them)")
	flag.IntVar(&o.reportPolls, "report-polls", 0, "credential reports stay in progress for this many further GenerateCredentialReport `polls` (0: ready at once)")
	flag.Float64Var(&o.throttleRate, "throttle-rate", 0, "the sandbox throttles each account above this many `calls` per second (0: never)")
	flag.IntVar(&o.throttleBurst, "throttle-burst", 10, "`calls` an account may burst above -throttle-rate")
	flag.Parse()

	var err error
	if o.serve {
		err = serve(o)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/scan:", err)
		os.Exit(1)
	}
}

func (o options) spec() (benchorg.Spec, error) {
	kind, err := benchorg.ParseFlagKind(o.kind)
	return benchorg.Spec{Accounts: o.accounts, Users: o.users, Flagged: o.flagged, Kind: kind, Seed: o.seed}, err
}

// calls reads and resets the sandbox's call counts, wherever it runs.
type calls interface {
	Calls() ([]awsemu.CallCount, error)
	// Reset forgets the calls and connections counted so far.
	Reset() error
	Stats() (sandboxStats, error)
}

// sandboxStats are what the sandbox measured since the last Reset.
type sandboxStats struct {
	Conns      int64   // TCP connections accepted
	PeakRSS    int64   // its process's peak RSS; 0 when it is this process
	CPUSeconds float64 // its process's CPU time; 0 when it is this process
}

// counters are kept by the process that serves the sandbox.
type counters struct {
	sb    *awsemu.Sandbox
	conns atomic.Int64
	cpu0  atomic.Uint64 // math.Float64bits of cpuTime at the last reset
}

func (c *counters) Calls() ([]awsemu.CallCount, error) { return c.sb.Calls(), nil }

func (c *counters) Reset() error {
	c.sb.ResetCalls()
	c.conns.Store(0)
	c.cpu0.Store(math.Float64bits(cpuTime()))
	return nil
}

func (c *counters) Stats() (sandboxStats, error) {
	return sandboxStats{Conns: c.conns.Load()}, nil
}

// processStats adds the serving process's own figures, for the child.
func (c *counters) processStats() sandboxStats {
	return sandboxStats{Conns: c.conns.Load(), PeakRSS: peakRSS(), CPUSeconds: cpuTime() - math.Float64frombits(c.cpu0.Load())}
}

// started is what the sandbox child tells its parent, one JSON line on stdout.
type started struct {
	URL         string
	Org         *benchorg.Org
	SeedSeconds float64
	HeapBytes   uint64 // the sandbox's heap after seeding
}

// newSandbox seeds a sandbox, applies the latency and serves it on a free
// loopback port; with control it also answers /_bench/ requests, for a
// parent process to read the calls and the sandbox's own figures.
func newSandbox(o options, control bool) (*counters, *started, error) {
	spec, err := o.spec()
	if err != nil {
		return nil, nil, err
	}
	before := heapAfterGC()
	t0 := time.Now()
	sb := awsemu.New(awsemu.Options{Seed: o.seed, SkipSignatureCheck: o.skipSigV4, ReportInProgressPolls: o.reportPolls})
	org, err := benchorg.Seed(sb, spec)
	if err != nil {
		return nil, nil, fmt.Errorf("seed the sandbox: %w", err)
	}
	seeded := time.Since(t0)
	heap := heapAfterGC() - before
	if o.latency > 0 || o.jitter > 0 || o.throttleRate > 0 {
		sb.SetFaults(awsemu.Fault{Latency: o.latency, Jitter: o.jitter, ThrottleRate: o.throttleRate, ThrottleBurst: o.throttleBurst})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	c := &counters{sb: sb}
	var h http.Handler = sb
	if control {
		reply := func(w http.ResponseWriter, v any) {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(v)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /_bench/calls", func(w http.ResponseWriter, _ *http.Request) { reply(w, c.sb.Calls()) })
		mux.HandleFunc("POST /_bench/reset", func(w http.ResponseWriter, _ *http.Request) { c.Reset(); reply(w, true) })
		mux.HandleFunc("GET /_bench/stats", func(w http.ResponseWriter, _ *http.Request) { reply(w, c.processStats()) })
		mux.Handle("/", sb)
		h = mux
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				c.conns.Add(1)
			}
		}}
	go srv.Serve(ln)
	return c, &started{URL: "http://" + ln.Addr().String(), Org: org, SeedSeconds: seeded.Seconds(), HeapBytes: heap}, nil
}

// serve is the sandbox child: it serves until its stdin closes.
func serve(o options) error {
	_, st, err := newSandbox(o, true)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(st); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// remoteCalls talks to the sandbox child.
type remoteCalls struct{ url string }

func (r remoteCalls) get(method, path string, v any) error {
	req, err := http.NewRequest(method, r.url+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (r remoteCalls) Calls() ([]awsemu.CallCount, error) {
	var out []awsemu.CallCount
	return out, r.get(http.MethodGet, "/_bench/calls", &out)
}

func (r remoteCalls) Reset() error {
	var ok bool
	return r.get(http.MethodPost, "/_bench/reset", &ok)
}

func (r remoteCalls) Stats() (sandboxStats, error) {
	// The bench's own requests open connections of their own; they are
	// counted too, a handful at most.
	var st sandboxStats
	return st, r.get(http.MethodGet, "/_bench/stats", &st)
}

// startChild runs this program again as the sandbox, without GOGC,
// GOMEMLIMIT and GOMAXPROCS; closing the returned writer stops it.
func startChild(o options) (*started, io.Closer, func() error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	args := []string{"-serve",
		"-accounts", strconv.Itoa(o.accounts), "-users", strconv.Itoa(o.users),
		"-flagged", strconv.FormatFloat(o.flagged, 'g', -1, 64), "-flag-kind", o.kind,
		"-latency", o.latency.String(), "-jitter", o.jitter.String(),
		"-seed", strconv.FormatUint(o.seed, 10), "-skip-sigv4=" + strconv.FormatBool(o.skipSigV4),
		"-report-polls", strconv.Itoa(o.reportPolls),
		"-throttle-rate", strconv.FormatFloat(o.throttleRate, 'g', -1, 64), "-throttle-burst", strconv.Itoa(o.throttleBurst)}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	// GOGC, GOMEMLIMIT and GOMAXPROCS tune keywarden's side (GOMAXPROCS=1
	// stands for a Lambda function's one vCPU); the sandbox, which stands
	// for AWS, runs with the defaults.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, nil, nil, fmt.Errorf("sandbox child: %w", err)
	}
	var st started
	if err := json.Unmarshal(line, &st); err != nil {
		stdin.Close()
		cmd.Wait()
		return nil, nil, nil, fmt.Errorf("sandbox child: %w", err)
	}
	return &st, stdin, cmd.Wait, nil
}

// result is everything one run measured; -json prints it as it is.
type result struct {
	Date       string `json:"date"`
	GoVersion  string `json:"go_version"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Sandbox    string `json:"sandbox"` // "in-process" or "child process"
	SigV4      bool   `json:"sandbox_checks_signatures"`

	Accounts          int     `json:"member_accounts"`
	UsersPerAccount   int     `json:"users_per_account"`
	FlaggedPerAccount int     `json:"flagged_per_account"`
	FlagKind          string  `json:"flag_kind"`
	Users             int     `json:"users"`
	Keys              int     `json:"keys"`
	Flagged           int     `json:"flagged_users"`
	SeedSeconds       float64 `json:"seed_seconds"`

	Source        string  `json:"source"`
	KeyIDs        string  `json:"key_ids"`
	Parallel      int     `json:"parallel"`
	UserParallel  int     `json:"user_parallel"`
	LatencyMS     float64 `json:"latency_ms"`
	JitterMS      float64 `json:"jitter_ms"`
	ReportPolls   int     `json:"report_polls"`
	ThrottleRate  float64 `json:"throttle_rate"`
	ThrottleBurst int     `json:"throttle_burst"`

	DiscoverySeconds  float64        `json:"discovery_seconds"`
	ScanSeconds       float64        `json:"scan_seconds"`
	TotalSeconds      float64        `json:"total_seconds"`
	DiscoveryBound    float64        `json:"discovery_lower_bound_seconds"`
	ScanBound         float64        `json:"scan_lower_bound_seconds"`
	TotalBound        float64        `json:"total_lower_bound_seconds"`
	Bound             benchorg.Bound `json:"bound"`
	CPUSeconds        float64        `json:"cpu_seconds"`         // this process, during the scan
	SandboxCPUSeconds float64        `json:"sandbox_cpu_seconds"` // the sandbox child, during the scan
	Conns             int64          `json:"connections"`         // TCP connections the sandbox accepted during the scan
	LoadAverage       string         `json:"load_average"`        // /proc/loadavg before the run

	DiscoveryCalls    int            `json:"discovery_calls"`
	ScanCalls         int            `json:"scan_calls"` // as the sandbox counted them
	MemberCallsMin    int            `json:"member_calls_min"`
	MemberCallsAvg    float64        `json:"member_calls_avg"`
	MemberCallsMax    int            `json:"member_calls_max"`
	ManagementCalls   int            `json:"management_calls"`
	FixedPerAccount   float64        `json:"fixed_calls_per_account"`
	PerFlaggedUser    float64        `json:"calls_per_flagged_user"`
	PerUser           float64        `json:"calls_per_user"`
	OneAccount        string         `json:"one_account"`
	OneAccountCalls   map[string]int `json:"one_account_calls"`
	FailedAccounts    int            `json:"failed_accounts"`
	PartialAccounts   int            `json:"partial_accounts"` // read in part (GetAccountSummary failed on the API path)
	FallbackAccounts  int            `json:"fallback_accounts"`
	FirstFailure      string         `json:"first_failure,omitempty"`
	InventoryUsers    int            `json:"inventory_users"`
	InventoryKeys     int            `json:"inventory_keys"`
	KeyIDsRead        int            `json:"key_ids_read"`
	KeyIDUsers        int            `json:"users_with_key_ids_read"`
	NeedingAttention  int            `json:"needing_attention"`
	PeakRSS           int64          `json:"peak_rss_bytes"`
	SandboxPeakRSS    int64          `json:"sandbox_peak_rss_bytes,omitempty"`
	SandboxHeap       uint64         `json:"sandbox_heap_bytes"`
	PeakHeap          uint64         `json:"peak_heap_bytes"`
	InventoryHeap     int64          `json:"inventory_heap_bytes"`
	InventoryHeapKey  float64        `json:"inventory_heap_bytes_per_key"`
	InventoryHeapUser float64        `json:"inventory_heap_bytes_per_user"`

	// With -format: judging the scan and rendering it, as keywarden scan
	// --format does after reading.
	Format          string  `json:"format,omitempty"`
	Findings        int     `json:"findings,omitempty"`
	RenderSeconds   float64 `json:"render_seconds,omitempty"`          // policy, Document and rendering
	OutputBytes     int64   `json:"output_bytes,omitempty"`            // what the renderer wrote
	RenderHeapPeak  uint64  `json:"render_heap_peak_bytes,omitempty"`  // the Go heap's peak while judging and rendering
	RenderHeapAdded int64   `json:"render_heap_added_bytes,omitempty"` // that peak less the live heap before it
}

func run(o options) error {
	var source inventory.Source
	switch o.source {
	case "report":
		source = inventory.SourceReport
	case "api":
		source = inventory.SourceAPI
	default:
		return fmt.Errorf("-source %q: want report or api", o.source)
	}
	keyIDs := engine.KeyIDs(o.keyIDs)
	switch keyIDs {
	case engine.KeyIDsAttention, engine.KeyIDsAll, engine.KeyIDsNone:
	default:
		return fmt.Errorf("-key-ids %q: want attention, all or none", o.keyIDs)
	}
	if o.parallel < 1 || o.userParallel < 1 {
		return errors.New("-parallel and -user-parallel must be at least 1")
	}
	switch {
	case o.reportPolls < 0:
		return fmt.Errorf("-report-polls %d: want 0 or more", o.reportPolls)
	case o.throttleRate < 0:
		return fmt.Errorf("-throttle-rate %g: want 0 (never) or more", o.throttleRate)
	case o.throttleBurst < 1:
		return fmt.Errorf("-throttle-burst %d: want at least 1", o.throttleBurst)
	case o.output != "" && o.format == "":
		// Nothing would be written to it.
		return errors.New("-output needs -format")
	}
	var format report.Format
	if o.format != "" {
		var err error
		if format, err = report.ParseFormat(o.format); err != nil {
			return fmt.Errorf("-format: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	r := &result{
		Date: time.Now().UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), SigV4: !o.skipSigV4,
		Source: o.source, KeyIDs: o.keyIDs, Parallel: o.parallel, UserParallel: o.userParallel,
		LatencyMS: ms(o.latency), JitterMS: ms(o.jitter), FlagKind: o.kind, LoadAverage: loadAverage(),
		ReportPolls: o.reportPolls, ThrottleRate: o.throttleRate, ThrottleBurst: o.throttleBurst,
	}
	var st *started
	var counts calls
	switch o.sandbox {
	case "inproc":
		c, s, err := newSandbox(o, false)
		if err != nil {
			return err
		}
		st, counts, r.Sandbox = s, c, "in-process"
	case "process":
		s, stdin, wait, err := startChild(o)
		if err != nil {
			return err
		}
		defer func() { stdin.Close(); wait() }()
		st, counts, r.Sandbox = s, remoteCalls{s.URL}, "child process"
	default:
		return fmt.Errorf("-sandbox %q: want inproc or process", o.sandbox)
	}
	org := st.Org
	r.Accounts, r.UsersPerAccount, r.FlaggedPerAccount = len(org.Members), org.Shape.Users, org.Shape.Flagged
	r.Users, r.Keys, r.Flagged, r.SeedSeconds, r.SandboxHeap = org.Users, org.Keys, org.Flagged, st.SeedSeconds, st.HeapBytes
	fmt.Fprintf(os.Stderr, "bench/scan: seeded %d accounts, %d users, %d keys in %.1fs; scanning...\n",
		len(org.Members)+1, org.Users, org.Keys, st.SeedSeconds)

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	peak := startHeapSampler()
	if err := counts.Reset(); err != nil {
		return err
	}
	t0 := time.Now()
	target := benchorg.Target{Endpoint: st.URL, Admin: org.Admin, RoleName: org.RoleName}
	if o.idleConns > 0 {
		target.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = max(t.MaxIdleConns, o.idleConns)
			t.MaxIdleConnsPerHost = o.idleConns
		})
	}
	// One hub and one engine for the run, as the CLI has: discovery
	// assumes no role, so the read after it starts with an empty
	// assume-role cache and pays for its AssumeRole calls.
	sess, err := benchorg.Connect(ctx, target)
	if err != nil {
		return err
	}
	hub, err := sess.NewHub(ctx)
	if err != nil {
		return err
	}
	eng := &engine.Engine{Hub: hub, Policy: policy.Default()}
	found, err := eng.Discover(ctx, inventory.Selection{Organization: true})
	if err != nil {
		return fmt.Errorf("discover: %w", err)
	}
	r.DiscoverySeconds = time.Since(t0).Seconds()
	dc, err := counts.Calls()
	if err != nil {
		return err
	}
	r.DiscoveryCalls = total(dc)
	// Identifying the caller, then listing a flat organization, is one call
	// after another.
	r.DiscoveryBound = float64(r.DiscoveryCalls) * o.latency.Seconds()
	if err := counts.Reset(); err != nil {
		return err
	}

	cpu0 := cpuTime()
	t1 := time.Now()
	inv, err := eng.ReadAccounts(ctx, found, engine.Read{Source: source, KeyIDs: keyIDs, Parallel: o.parallel, UserParallel: o.userParallel})
	if err != nil {
		return err
	}
	r.ScanSeconds = time.Since(t1).Seconds()
	r.TotalSeconds = r.DiscoverySeconds + r.ScanSeconds
	r.CPUSeconds = cpuTime() - cpu0
	r.PeakHeap = peak()
	sst, err := counts.Stats()
	if err != nil {
		return err
	}
	r.Conns, r.SandboxCPUSeconds, r.SandboxPeakRSS = sst.Conns, sst.CPUSeconds, sst.PeakRSS

	r.Bound = benchorg.ScanBound(org, benchorg.Reading{Source: source, KeyIDs: o.keyIDs, Parallel: o.parallel, UserParallel: o.userParallel,
		ReportPolls: o.reportPolls, ThrottleRate: o.throttleRate, ThrottleBurst: o.throttleBurst}, o.latency)
	r.ScanBound = r.Bound.LowerBound.Seconds()
	r.TotalBound = r.DiscoveryBound + r.ScanBound

	sc, err := counts.Calls()
	if err != nil {
		return err
	}
	summarise(r, org, inv, sc)
	// The bound counts the users Seed flagged as those whose key IDs the
	// report path reads; in the engine the default policy picks them.
	if want := org.KeyIDUsers(o.keyIDs); source == inventory.SourceReport && r.FailedAccounts == 0 && r.FallbackAccounts == 0 && r.KeyIDUsers != want {
		fmt.Fprintf(os.Stderr, "bench/scan: the scan read the key IDs of %d users; the lower bound assumes %d\n", r.KeyIDUsers, want)
	}

	if format != "" {
		if err := render(r, eng, inv, format, o.output); err != nil {
			return err
		}
	}

	// The inventory's own heap: the live heap with it, then without it.
	with := heapAfterGC()
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	runtime.KeepAlive(inv)
	inv = nil
	without := heapAfterGC()
	r.InventoryHeap = int64(with) - int64(without)
	if r.InventoryKeys > 0 {
		r.InventoryHeapKey = float64(r.InventoryHeap) / float64(r.InventoryKeys)
	}
	if r.InventoryUsers > 0 {
		r.InventoryHeapUser = float64(r.InventoryHeap) / float64(r.InventoryUsers)
	}
	r.PeakRSS = peakRSS()

	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printText(os.Stdout, r)
	return nil
}

// render judges inv by the engine's policy and renders it in format, as
// keywarden scan --format does after reading (with no state store), to
// path or, when path is "", to a writer that only counts the bytes.
func render(r *result, eng *engine.Engine, inv *inventory.Inventory, format report.Format, path string) error {
	before := heapAfterGC()
	peak := startHeapSampler()
	t0 := time.Now()
	res := &engine.ScanResult{Inventory: inv, AsOf: inv.FinishedAt}
	res.Findings = eng.Policy.Evaluate(inv, policy.Options{AsOf: res.AsOf})
	doc := res.Document(time.Time{})
	var out countingWriter
	var w io.Writer = &out
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(f, &out)
	}
	if err := report.Render(w, doc, format); err != nil {
		return fmt.Errorf("render %s: %w", format, err)
	}
	r.RenderSeconds = time.Since(t0).Seconds()
	r.RenderHeapPeak = peak()
	r.RenderHeapAdded = int64(r.RenderHeapPeak) - int64(before)
	r.Format, r.Findings, r.OutputBytes = string(format), len(res.Findings), int64(out)
	runtime.KeepAlive(doc)
	return nil
}

// countingWriter counts what it is given and drops it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// perUserOps are the calls the inventory makes per user rather than per account.
var perUserOps = map[string]bool{"ListAccessKeys": true, "GetAccessKeyLastUsed": true}

func summarise(r *result, org *benchorg.Org, inv *inventory.Inventory, sc []awsemu.CallCount) {
	r.ScanCalls = total(sc)
	first := true
	sum := 0
	for _, a := range inv.Accounts {
		if a.Account.ID == org.Management {
			r.ManagementCalls = a.Calls
		} else {
			if first || a.Calls < r.MemberCallsMin {
				r.MemberCallsMin = a.Calls
			}
			r.MemberCallsMax = max(r.MemberCallsMax, a.Calls)
			sum += a.Calls
			first = false
		}
		if !a.Status.Complete() {
			if a.Status == inventory.AccountPartial {
				r.PartialAccounts++
			} else {
				r.FailedAccounts++
			}
			if r.FirstFailure == "" {
				r.FirstFailure = a.Account.ID + ": " + a.ErrorCode + ": " + a.Error
			}
		}
		if a.Fallback != "" {
			r.FallbackAccounts++
		}
		for _, u := range a.Users {
			r.InventoryUsers++
			r.InventoryKeys += len(u.Keys)
			read := 0
			for _, k := range u.Keys {
				if k.ID != "" {
					read++
				}
			}
			r.KeyIDsRead += read
			if read > 0 {
				r.KeyIDUsers++
			}
			if inventory.NeedsAttention(u, inv.StartedAt) {
				r.NeedingAttention++
			}
		}
	}
	if n := len(org.Members); n > 0 {
		r.MemberCallsAvg = float64(sum) / float64(n)
	}

	// Split the members' calls, as the sandbox counted them, into the
	// calls every account costs and those each (flagged) user costs.
	fixed, perUser := 0, 0
	r.OneAccountCalls = map[string]int{}
	if len(org.Members) > 0 {
		r.OneAccount = org.Members[0]
	}
	for _, c := range sc {
		if c.Account == org.Management || c.Account == "" {
			continue
		}
		if perUserOps[c.Operation] {
			perUser += c.Calls
		} else {
			fixed += c.Calls
		}
		if c.Account == r.OneAccount {
			r.OneAccountCalls[c.Operation] += c.Calls
		}
	}
	if n := len(org.Members); n > 0 {
		r.FixedPerAccount = float64(fixed) / float64(n)
	}
	if org.Flagged > 0 {
		r.PerFlaggedUser = float64(perUser) / float64(org.Flagged)
	}
	if u := org.Users - 1; u > 0 {
		r.PerUser = float64(perUser) / float64(u)
	}
}

func printText(w io.Writer, r *result) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	check := "signatures checked"
	if !r.SigV4 {
		check = "signatures not checked"
	}
	p("keywarden scan benchmark — %s, %s, %d CPUs (GOMAXPROCS %d)", r.Date, r.GoVersion, r.CPUs, r.GOMAXPROCS)
	p("organization   %d member accounts + the management account; %d users each, %d of them flagged (%s)",
		r.Accounts, r.UsersPerAccount, r.FlaggedPerAccount, r.FlagKind)
	p("               %d users, %d keys, %d flagged users in all", r.Users, r.Keys, r.Flagged)
	p("sandbox        %s, %s, latency %v per call (jitter %v); seeded in %.1fs",
		r.Sandbox, check, time.Duration(r.LatencyMS*1e6), time.Duration(r.JitterMS*1e6), r.SeedSeconds)
	p("scan           source=%s key-ids=%s parallel=%d user-parallel=%d", r.Source, r.KeyIDs, r.Parallel, r.UserParallel)
	if r.ReportPolls > 0 || r.ThrottleRate > 0 {
		p("               reports in progress for %d polls; throttle %g calls/s per account, burst %d", r.ReportPolls, r.ThrottleRate, r.ThrottleBurst)
	}
	p("")
	p("wall time                 measured   lower bound")
	p("  discovery              %8.2fs   %8.2fs   (%d calls one after another × latency)", r.DiscoverySeconds, r.DiscoveryBound, r.DiscoveryCalls)
	if b := r.Bound; b.ReportWait > 0 || b.Throttled {
		why := fmt.Sprintf("chain %d × %v + %v of waits for the report", b.MaxChain, b.Latency, b.ReportWait)
		if b.Throttled {
			why = fmt.Sprintf("(calls − burst) / %g calls/s", r.ThrottleRate)
		}
		p("  scan                   %8.2fs   %8.2fs   (max(a member account, Σ time holding a slot / %d); a member account ≥ %v: %s)",
			r.ScanSeconds, r.ScanBound, b.Parallel, b.MemberTime.Round(time.Millisecond), why)
	} else {
		p("  scan                   %8.2fs   %8.2fs   (max(max chain, Σ chains / parallel) × latency = max(%d, %d / %d) × %v)",
			r.ScanSeconds, r.ScanBound, b.MaxChain, b.SumChains, b.Parallel, b.Latency)
	}
	p("  total                  %8.2fs   %8.2fs   (%.0f%% of the wall time is waiting the latency forces)",
		r.TotalSeconds, r.TotalBound, 100*r.TotalBound/max(r.TotalSeconds, 1e-9))
	if r.SandboxCPUSeconds > 0 {
		p("  CPU during the scan    %8.2fs keywarden + %.2fs sandbox child, on %d CPUs (load average before: %s)",
			r.CPUSeconds, r.SandboxCPUSeconds, r.CPUs, r.LoadAverage)
		procs := min(r.CPUs, r.GOMAXPROCS)
		p("  scan floor, keywarden  %8.2fs   max(lower bound, keywarden CPU / %d CPUs): the least the scan could take here with the sandbox elsewhere",
			max(r.ScanBound, r.CPUSeconds/float64(procs)), procs)
	} else {
		p("  CPU during the scan    %8.2fs keywarden and sandbox together, on %d CPUs (load average before: %s)", r.CPUSeconds, r.CPUs, r.LoadAverage)
	}
	p("")
	p("API calls")
	p("  discovery              %d", r.DiscoveryCalls)
	p("  scan                   %d (sandbox count); management account %d", r.ScanCalls, r.ManagementCalls)
	p("  per member account     min %d / avg %.2f / max %d (inventory's own count, AssumeRole and retries included)",
		r.MemberCallsMin, r.MemberCallsAvg, r.MemberCallsMax)
	p("  fixed per account      %.2f (everything but ListAccessKeys and GetAccessKeyLastUsed)", r.FixedPerAccount)
	p("  per flagged user       %.2f   per user %.3f", r.PerFlaggedUser, r.PerUser)
	p("  TCP connections        %d opened during the scan", r.Conns)
	p("  one account (%s):", r.OneAccount)
	ops := make([]string, 0, len(r.OneAccountCalls))
	for op := range r.OneAccountCalls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		p("    %-32s %d", op, r.OneAccountCalls[op])
	}
	p("")
	p("result")
	p("  accounts failed        %d; partial %d; fell back to the API %d", r.FailedAccounts, r.PartialAccounts, r.FallbackAccounts)
	if r.FirstFailure != "" {
		p("  first failure          %s", r.FirstFailure)
	}
	p("  users, keys            %d, %d; key IDs read %d; needing attention %d", r.InventoryUsers, r.InventoryKeys, r.KeyIDsRead, r.NeedingAttention)
	p("")
	p("memory")
	rssNote := "sandbox included"
	if r.SandboxPeakRSS > 0 {
		rssNote = "keywarden alone; the sandbox child's was " + mib(r.SandboxPeakRSS)
	}
	p("  process peak RSS       %s (%s)", mib(r.PeakRSS), rssNote)
	if r.Sandbox == "in-process" {
		p("  sandbox heap           %s (its seeded state, before the scan)", mib(int64(r.SandboxHeap)))
	}
	p("  Go heap peak           %s (sampled every 10ms during discovery and scan)", mib(int64(r.PeakHeap)))
	p("  inventory heap         %s = %.0f B/key, %.0f B/user (live heap with and without the *Inventory)",
		mib(r.InventoryHeap), r.InventoryHeapKey, r.InventoryHeapUser)
	if r.Format != "" {
		p("")
		p("output (-format %s: default policy, Document, render)", r.Format)
		p("  findings, bytes        %d findings, %s written", r.Findings, mib(r.OutputBytes))
		p("  time                   %.2fs", r.RenderSeconds)
		p("  Go heap peak           %s, %s above the live heap before (sampled every 10ms)", mib(int64(r.RenderHeapPeak)), mib(r.RenderHeapAdded))
	}
}

// loadAverage is the first three fields of /proc/loadavg, "" where there is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func total(cs []awsemu.CallCount) int {
	n := 0
	for _, c := range cs {
		n += c.Calls
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// startHeapSampler samples the heap's object bytes every 10ms; the
// returned function stops it and returns the highest sample.
func startHeapSampler() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value; v.Kind() == metrics.KindUint64 {
			mu.Lock()
			peak = max(peak, v.Uint64())
			mu.Unlock()
		}
	}
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(done)
		read()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // kilobytes on Linux
}

// cpuTime is the process's user and system CPU time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
