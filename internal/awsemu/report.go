package awsemu

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"sort"
	"time"
)

// The IAM credential report: a CSV snapshot of every user's credentials,
// taken when generation completes and served unchanged for four hours.

// reportLifetime is how long IAM serves a report before it must be regenerated.
const reportLifetime = 4 * time.Hour

// ReportHeader is the credential report's header line, exactly as IAM writes it.
var ReportHeader = []string{
	"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}

type credentialReport struct {
	generated time.Time
	content   []byte
	encoded   string // content in base64, as the XML carries it
}

// rawXML is written into the response as it is: base64 needs no escaping,
// and escaping a large report character by character is slow.
type rawXML struct {
	Text string `xml:",innerxml"`
}

// reportJob is a generation in progress: it completes after pollsLeft more
// GenerateCredentialReport calls.
type reportJob struct{ pollsLeft int }

func (s *Sandbox) generateCredentialReport(c *call) (any, *apiError) {
	type result struct {
		State       string `xml:"State"`
		Description string `xml:"Description,omitempty"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	now := s.clock.Now().Truncate(time.Second)
	if job := a.reportJob; job != nil {
		if job.pollsLeft > 0 {
			job.pollsLeft--
			return result{State: "INPROGRESS"}, nil
		}
		a.report = buildReport(a, now, s.lastUsedDelay)
		a.reportJob = nil
		return result{State: "COMPLETE"}, nil
	}
	if a.report != nil && now.Sub(a.report.generated) < reportLifetime {
		return result{State: "COMPLETE"}, nil
	}
	desc := "No report exists. Starting a new report generation task"
	if a.report != nil {
		desc = "The report has expired. Starting a new report generation task"
	}
	if s.opts.ReportInProgressPolls > 0 {
		a.reportJob = &reportJob{pollsLeft: s.opts.ReportInProgressPolls}
	} else {
		a.report = buildReport(a, now, s.lastUsedDelay)
	}
	return result{State: "STARTED", Description: desc}, nil
}

func (s *Sandbox) getCredentialReport(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	now := s.clock.Now()
	switch {
	case a.reportJob != nil:
		return nil, errorf(404, "ReportInProgress", "Report generation in progress. Try again later.")
	case a.report == nil:
		return nil, errorf(410, "ReportNotPresent", "Credential report not present. Call GenerateCredentialReport to generate a report.")
	case now.Sub(a.report.generated) >= reportLifetime:
		return nil, errorf(410, "ReportExpired", "The credential report has expired. Call GenerateCredentialReport to generate a new report.")
	}
	return struct {
		Content       rawXML  `xml:"Content"`
		ReportFormat  string  `xml:"ReportFormat"`
		GeneratedTime isoTime `xml:"GeneratedTime"`
	}{rawXML{a.report.encoded}, "text/csv", isoTime(a.report.generated)}, nil
}

// Special values of the report, as IAM documents them.
const (
	notApplicable = "N/A"
	notSupported  = "not_supported"
	noInformation = "no_information"
)

func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

func reportBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// keyColumns fills the five columns of one key slot.
func keyColumns(k *accessKey) []string {
	if k == nil {
		return []string{"false", notApplicable, notApplicable, notApplicable, notApplicable}
	}
	cols := []string{reportBool(k.status == StatusActive), reportTime(k.created), notApplicable, notApplicable, notApplicable}
	if !k.used.at.IsZero() {
		cols[2] = reportTime(k.used.at)
		cols[3] = k.used.region
		cols[4] = k.used.service
	}
	return cols
}

func slots(keys []*accessKey) (first, second *accessKey) {
	sorted := keysByCreation(keys)
	if len(sorted) > 0 {
		first = sorted[0]
	}
	if len(sorted) > 1 {
		second = sorted[1]
	}
	return first, second
}

// buildReport takes the snapshot: the root row first, then users by name.
// Key uses still hidden by delay (Options.LastUsedDelay) are not in it.
func buildReport(a *account, now time.Time, delay time.Duration) *credentialReport {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(ReportHeader)

	rootPassword := noInformation
	if !a.root.passwordLastUsed.IsZero() {
		rootPassword = reportTime(a.root.passwordLastUsed)
	}
	for _, k := range a.root.keys {
		k.settle(now, delay)
	}
	k1, k2 := slots(a.root.keys)
	row := []string{"<root_account>", a.arnRoot(), reportTime(a.created), notSupported, rootPassword,
		notSupported, notSupported, reportBool(a.root.mfa)}
	row = append(row, keyColumns(k1)...)
	row = append(row, keyColumns(k2)...)
	row = append(row, "false", notApplicable, "false", notApplicable)
	w.Write(row)

	names := append([]string(nil), a.sortedUsers()...)
	sort.Strings(names)
	for _, n := range names {
		u := a.users[n]
		passwordUsed, passwordChanged := notApplicable, notApplicable
		if u.password {
			passwordUsed = noInformation
			if !u.passwordLastUsed.IsZero() {
				passwordUsed = reportTime(u.passwordLastUsed)
			}
			passwordChanged = reportTime(u.passwordChanged)
		}
		for _, k := range u.keys {
			k.settle(now, delay)
		}
		k1, k2 := slots(u.keys)
		row = append(row[:0], u.name, a.userARN(u), reportTime(u.created), reportBool(u.password),
			passwordUsed, passwordChanged, notApplicable, reportBool(u.mfa))
		row = append(row, keyColumns(k1)...)
		row = append(row, keyColumns(k2)...)
		row = append(row, "false", notApplicable, "false", notApplicable)
		w.Write(row)
	}
	w.Flush()
	return &credentialReport{generated: now, content: buf.Bytes(), encoded: base64.StdEncoding.EncodeToString(buf.Bytes())}
}
