package remediate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// WritePlan writes a plan as indented JSON, the plan file format
// (docs/safety.md).
func WritePlan(w io.Writer, p *Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(p)
}

// maxPlanSize bounds what ReadPlan reads: a plan of every key of a large
// organization is a few tens of megabytes.
const maxPlanSize = 512 << 20

// ReadPlan reads a plan file; name is used in errors, which give the line
// and column of a syntax error or of a field keywarden does not know.
func ReadPlan(r io.Reader, name string) (*Plan, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPlanSize+1))
	if err != nil {
		return nil, fmt.Errorf("read plan %s: %w", name, err)
	}
	if len(b) > maxPlanSize {
		return nil, fmt.Errorf("read plan %s: larger than %d MiB; not a keywarden plan", name, maxPlanSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("read plan %s:%s: not a keywarden plan: %v", name, position(b, syn.Offset), err)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("read plan %s:%s: field %s: want %s, got %s", name, position(b, typ.Offset), typ.Field, typ.Type, typ.Value)
		}
		return nil, fmt.Errorf("read plan %s: not a keywarden plan: %v", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read plan %s: not a keywarden plan: more than one JSON value", name)
	}
	if p.ID == "" || p.SchemaVersion == 0 {
		return nil, fmt.Errorf("read plan %s: not a keywarden plan (no id or schema_version)", name)
	}
	return &p, nil
}

// position is "line:column" of a byte offset.
func position(b []byte, offset int64) string {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	line, col := 1, 1
	for _, c := range b[:offset] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("%d:%d", line, col)
}
