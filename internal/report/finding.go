package report

import (
	"bytes"
	"encoding/json"
	"time"
)

// Finding is one policy rule firing for one key (or one account, for
// rules about the root user). The policy makes them; Build only carries
// them into the Document. Empty strings and the zero time are output as
// null, Controls as an array (never null).
type Finding struct {
	Rule     string `json:"rule"`     // max_age, unused, root_key, …
	Severity string `json:"severity"` // as the policy names it
	// Stage is the stage reached (warn, rotate, deactivate, delete);
	// NextStage and NextStageAt say what comes next and when ("" and zero
	// when nothing does).
	Stage       string    `json:"stage"`
	NextStage   string    `json:"next_stage"`
	NextStageAt time.Time `json:"next_stage_at"`

	// DueAt is when the stage was reached.
	DueAt time.Time `json:"due_at"`

	AccountID    string    `json:"account_id"`
	AccountName  string    `json:"account_name"`
	UserName     string    `json:"user_name"`     // RootUserName for the root user
	UserARN      string    `json:"user_arn"`      //
	AccessKeyID  string    `json:"access_key_id"` // "" when not read or not about one key
	KeySlot      int       `json:"key_slot"`      // the credential report slot, 0 when unknown
	KeyCreatedAt time.Time `json:"key_created_at"`

	Message string `json:"message"`
	// Exempt is true when an exemption matched: the finding is reported
	// but not acted on. ExemptionReason is the exemption's reason.
	Exempt           bool   `json:"exempt"`
	ExemptionReason  string `json:"exemption_reason"`
	ExemptionSource  string `json:"exemption_source"`  // file:line of the exemption
	ExemptionExpires string `json:"exemption_expires"` // YYYY-MM-DD, "" for none
	// Estimated is true when the time measured starts at an estimate (an
	// inactive key's deactivation date taken as its last use).
	Estimated bool `json:"estimated"`
	// Controls are the compliance controls the rule maps to.
	Controls []Control `json:"controls"`
}

// Control is a compliance control: a CIS AWS Foundations Benchmark
// recommendation (with the benchmark versions that number it so) or an AWS
// Security Hub control.
type Control struct {
	Framework string `json:"framework"`
	Versions  string `json:"versions,omitempty"`
	ID        string `json:"id"`
	Title     string `json:"title"`
}

// findingJSON is Finding as output, with nulls.
type findingJSON struct {
	Rule             string     `json:"rule"`
	Severity         string     `json:"severity"`
	Stage            *string    `json:"stage"`
	DueAt            *time.Time `json:"due_at"`
	NextStage        *string    `json:"next_stage"`
	NextStageAt      *time.Time `json:"next_stage_at"`
	AccountID        string     `json:"account_id"`
	AccountName      *string    `json:"account_name"`
	UserName         *string    `json:"user_name"`
	UserARN          *string    `json:"user_arn"`
	AccessKeyID      *string    `json:"access_key_id"`
	KeySlot          *int       `json:"key_slot"`
	KeyCreatedAt     *time.Time `json:"key_created_at"`
	Message          string     `json:"message"`
	Exempt           bool       `json:"exempt"`
	ExemptionReason  *string    `json:"exemption_reason"`
	ExemptionSource  *string    `json:"exemption_source"`
	ExemptionExpires *string    `json:"exemption_expires"`
	Estimated        bool       `json:"estimated"`
	Controls         []Control  `json:"controls"`
}

// MarshalJSON outputs f with null for the empty optional fields, times in
// UTC to the second, and controls as an array.
func (f Finding) MarshalJSON() ([]byte, error) {
	// Not json.Marshal: it would escape the <> of RootUserName.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f.json()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// json is f as output.
func (f *Finding) json() *findingJSON {
	j := &findingJSON{
		Rule:             f.Rule,
		Severity:         f.Severity,
		Stage:            nonEmpty(f.Stage),
		NextStage:        nonEmpty(f.NextStage),
		AccountID:        f.AccountID,
		AccountName:      nonEmpty(f.AccountName),
		UserName:         nonEmpty(f.UserName),
		UserARN:          nonEmpty(f.UserARN),
		AccessKeyID:      nonEmpty(f.AccessKeyID),
		Message:          f.Message,
		Exempt:           f.Exempt,
		ExemptionReason:  nonEmpty(f.ExemptionReason),
		ExemptionSource:  nonEmpty(f.ExemptionSource),
		ExemptionExpires: nonEmpty(f.ExemptionExpires),
		Estimated:        f.Estimated,
		Controls:         f.Controls,
	}
	j.NextStageAt = optStamp(f.NextStageAt)
	j.DueAt = optStamp(f.DueAt)
	j.KeyCreatedAt = optStamp(f.KeyCreatedAt)
	if f.KeySlot > 0 {
		slot := f.KeySlot
		j.KeySlot = &slot
	}
	if j.Controls == nil {
		j.Controls = []Control{}
	}
	return j
}

func optStamp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}
