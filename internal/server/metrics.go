package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/store"
)

// metrics are the service's Prometheus metrics. Labels name accounts,
// rules, severities and outcomes, never a user or a key: their number
// stays bounded by the organization's size, not by its keys.
type metrics struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec // by trigger and status
	runDuration   prometheus.Histogram
	lastRunTime   prometheus.Gauge
	lastRunOK     prometheus.Gauge
	apiCalls      prometheus.Counter
	accountErrors *prometheus.CounterVec // by AWS error code
	notifications *prometheus.CounterVec // by outcome
	actions       *prometheus.CounterVec // by outcome
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_runs_total",
			Help: "Runs this process started, by trigger and final status."}, []string{"trigger", "status"}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keywarden_run_duration_seconds",
			Help: "How long runs took.", Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600}}),
		lastRunTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_timestamp_seconds",
			Help: "When the last run finished, in Unix seconds."}),
		lastRunOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keywarden_last_run_success",
			Help: "1 if the last run finished with status ok, 0 otherwise."}),
		apiCalls: prometheus.NewCounter(prometheus.CounterOpts{Name: "keywarden_aws_api_calls_total",
			Help: "AWS API calls made by scans, AssumeRole and retries included."}),
		accountErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_aws_api_errors_total",
			Help: "Accounts a scan could not read completely, by AWS error code."}, []string{"code"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_notifications_total",
			Help: "Notifications, by outcome (sent, failed, queued, retried)."}, []string{"outcome"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keywarden_actions_total",
			Help: "Actions of applies, by outcome."}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.runs, m.runDuration, m.lastRunTime, m.lastRunOK, m.apiCalls, m.accountErrors, m.notifications, m.actions,
		&snapshotCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// observe counts a finished run.
func (m *metrics) observe(r *LiveRun) {
	m.runs.WithLabelValues(r.Trigger, r.Status).Inc()
	m.runDuration.Observe(r.FinishedAt.Sub(r.StartedAt).Seconds())
	m.lastRunTime.Set(float64(r.FinishedAt.UnixNano()) / 1e9)
	// An undo has no summary: it succeeded when its journal run is done.
	if r.Status == engine.StatusOK || r.Kind == KindUndo && r.Status == store.RunDone {
		m.lastRunOK.Set(1)
	} else {
		m.lastRunOK.Set(0)
	}
	sum := r.Summary
	if sum == nil {
		return
	}
	m.apiCalls.Add(float64(sum.APICalls))
	for code, n := range sum.AccountErrors {
		m.accountErrors.WithLabelValues(code).Add(float64(n))
	}
	for outcome, n := range sum.Actions {
		m.actions.WithLabelValues(outcome).Add(float64(n))
	}
	if n := sum.Notifications; n != nil {
		m.notifications.WithLabelValues("sent").Add(float64(n.Sent))
		m.notifications.WithLabelValues("failed").Add(float64(n.Failed))
		m.notifications.WithLabelValues("queued").Add(float64(n.Queued))
		m.notifications.WithLabelValues("retried").Add(float64(n.Retried))
	}
}

// snapshotCollector reports the latest snapshot in the state store at
// each scrape: what the organization looks like now, whichever process
// (this one, the Lambda, another service) scanned it last.
type snapshotCollector struct{ s *Server }

var (
	descFindings = prometheus.NewDesc("keywarden_findings",
		"Findings of the latest scan that are not exempt, by account, rule and severity.", []string{"account", "rule", "severity"}, nil)
	descExempt = prometheus.NewDesc("keywarden_findings_exempt",
		"Exempt findings of the latest scan, by account and rule.", []string{"account", "rule"}, nil)
	descKeys = prometheus.NewDesc("keywarden_keys",
		"Access keys of IAM users in the latest scan, by account and status.", []string{"account", "status"}, nil)
	descAccountUp = prometheus.NewDesc("keywarden_account_read_ok",
		"1 if the latest scan read the account completely.", []string{"account"}, nil)
	descScanTime = prometheus.NewDesc("keywarden_last_scan_timestamp_seconds",
		"When the latest scan judged the keys, in Unix seconds.", nil, nil)
)

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFindings, descExempt, descKeys, descAccountUp, descScanTime} {
		ch <- d
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snaps, err := c.s.o.Store.Snapshots(ctx, store.SnapshotQuery{Limit: 1})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descFindings, err)
		return
	}
	if len(snaps) == 0 {
		return
	}
	sn := snaps[0]
	ch <- prometheus.MustNewConstMetric(descScanTime, prometheus.GaugeValue, float64(sn.At.UnixNano())/1e9)
	type fk struct{ account, rule, severity string }
	findings, exempt := map[fk]int{}, map[fk]int{}
	for _, n := range sn.Counts {
		if n.Exempt {
			exempt[fk{n.AccountID, n.Rule, ""}] += n.N
		} else {
			findings[fk{n.AccountID, n.Rule, n.Severity}] += n.N
		}
	}
	for k, n := range findings {
		ch <- prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(n), k.account, k.rule, k.severity)
	}
	for k, n := range exempt {
		ch <- prometheus.MustNewConstMetric(descExempt, prometheus.GaugeValue, float64(n), k.account, k.rule)
	}
	for _, a := range sn.Accounts {
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(a.KeysActive), a.ID, "Active")
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(a.KeysInactive), a.ID, "Inactive")
		up := 0.0
		if a.Status == "ok" {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descAccountUp, prometheus.GaugeValue, up, a.ID)
	}
}
