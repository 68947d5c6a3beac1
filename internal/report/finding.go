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

	AccountID   string `json:"account_id"`
	UserName    string `json:"user_name"`     // RootUserName for the root user
	AccessKeyID string `json:"access_key_id"` // "" when not read or not about one key

	Message string `json:"message"`
	// Exempt is true when an exemption matched: the finding is reported
	// but not acted on. ExemptionReason is the exemption's reason.
	Exempt          bool   `json:"exempt"`
	ExemptionReason string `json:"exemption_reason"`
	// Controls are the benchmark controls the rule stands for
	// ("CIS 1.14", …).
	Controls []string `json:"controls"`
}

// findingJSON is Finding as output, with nulls.
type findingJSON struct {
	Rule            string     `json:"rule"`
	Severity        string     `json:"severity"`
	Stage           *string    `json:"stage"`
	NextStage       *string    `json:"next_stage"`
	NextStageAt     *time.Time `json:"next_stage_at"`
	AccountID       string     `json:"account_id"`
	UserName        *string    `json:"user_name"`
	AccessKeyID     *string    `json:"access_key_id"`
	Message         string     `json:"message"`
	Exempt          bool       `json:"exempt"`
	ExemptionReason *string    `json:"exemption_reason"`
	Controls        []string   `json:"controls"`
}

// MarshalJSON outputs f with null for the empty optional fields, times in
// UTC to the second, and controls as an array.
func (f Finding) MarshalJSON() ([]byte, error) {
	j := findingJSON{
		Rule:            f.Rule,
		Severity:        f.Severity,
		Stage:           nonEmpty(f.Stage),
		NextStage:       nonEmpty(f.NextStage),
		AccountID:       f.AccountID,
		UserName:        nonEmpty(f.UserName),
		AccessKeyID:     nonEmpty(f.AccessKeyID),
		Message:         f.Message,
		Exempt:          f.Exempt,
		ExemptionReason: nonEmpty(f.ExemptionReason),
		Controls:        f.Controls,
	}
	if !f.NextStageAt.IsZero() {
		t := stamp(f.NextStageAt)
		j.NextStageAt = &t
	}
	if j.Controls == nil {
		j.Controls = []string{}
	}
	// Not json.Marshal: it would escape the <> of RootUserName.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
