package server_test

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics: /metrics is the Prometheus text format, parsed by
// Prometheus's own parser; it counts what the runs found and did, with
// labels that never name a user or a key.
func TestMetrics(t *testing.T) {
	w := newWorld(t, reportPolicy)
	run := w.runNow()
	resp, body := w.do("GET", "/metrics", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		mf, ok := families[name]
		if !ok {
			return 0, false
		}
		total, found := 0.0, false
	metrics:
		for _, m := range mf.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			found = true
			total += metricValue(m)
		}
		return total, found
	}

	if n, _ := value("keywarden_findings", nil); int(n) != run.Summary.Findings || n == 0 {
		t.Errorf("keywarden_findings sums to %v, the run found %d", n, run.Summary.Findings)
	}
	for sev, want := range run.Summary.FindingsBySeverity {
		if n, _ := value("keywarden_findings", map[string]string{"severity": sev}); int(n) != want {
			t.Errorf("keywarden_findings{severity=%q} = %v, want %d", sev, n, want)
		}
	}
	if n, _ := value("keywarden_keys", nil); int(n) != run.Summary.Keys {
		t.Errorf("keywarden_keys sums to %v, the run read %d keys", n, run.Summary.Keys)
	}
	if n, ok := value("keywarden_runs_total", map[string]string{"trigger": "api", "status": "ok"}); !ok || n != 1 {
		t.Errorf("keywarden_runs_total{trigger=api,status=ok} = %v (%v), want 1", n, ok)
	}
	if n, _ := value("keywarden_last_run_success", nil); n != 1 {
		t.Errorf("keywarden_last_run_success = %v, want 1", n)
	}
	if n, _ := value("keywarden_last_run_timestamp_seconds", nil); n < float64(run.FinishedAt.Unix())-1 {
		t.Errorf("keywarden_last_run_timestamp_seconds = %v, the run finished at %d", n, run.FinishedAt.Unix())
	}
	if n, _ := value("keywarden_aws_api_calls_total", nil); int(n) != run.Summary.APICalls || n == 0 {
		t.Errorf("keywarden_aws_api_calls_total = %v, the run made %d", n, run.Summary.APICalls)
	}
	if n, ok := value("keywarden_run_duration_seconds", nil); !ok || n != 1 { // the histogram's count
		t.Errorf("keywarden_run_duration_seconds: %v observations, want 1", n)
	}
	// No label per user or key.
	for name, mf := range families {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if n := l.GetName(); strings.Contains(n, "user") || strings.Contains(n, "key") {
					t.Errorf("%s has a label %s", name, n)
				}
				if v := l.GetValue(); strings.HasPrefix(v, "AKIA") || strings.HasPrefix(v, "ASIA") {
					t.Errorf("%s has a label value %s", name, v)
				}
			}
		}
	}
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
