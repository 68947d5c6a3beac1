package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wholeJSON is how a value was written before the output streamed: encoded
// whole by json.Encoder, indented by two spaces, <>& as they are.
func wholeJSON(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// streamDocs are documents of every shape the streamed writers must get
// right: findings or none, empty lists and nil ones, text that JSON
// escapes.
func streamDocs() map[string]*Document {
	odd := exportDoc()
	odd.Caller = "arn:aws:sts::999999999999:assumed-role/<hub>&\"x\"/\u2028é\n"
	odd.Accounts[0].Name = "<script>\t&amp;"
	odd.Keys[0].UserName = "ü\\\"<root_account>"
	odd.Findings[0].Message = "a <b> & c\u0000"
	return map[string]*Document{
		"fixture":       fixtureDoc(),
		"with findings": exportDoc(),
		"escapes":       odd,
		"empty scan":    Build(nil, BuildOptions{GeneratedAt: fixtureGenerated}),
		"nil lists":     {SchemaVersion: SchemaVersion, GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf},
		"one of each": {SchemaVersion: SchemaVersion, Accounts: []Account{{ID: "1"}}, Keys: []Key{{AccountID: "1"}},
			Findings: []Finding{{Rule: "r"}}},
	}
}

// TestJSONStreamed: the JSON written one part at a time is, byte for byte,
// what json.Encoder writes for the whole Document.
func TestJSONStreamed(t *testing.T) {
	for name, doc := range streamDocs() {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := Render(&got, doc, FormatJSON); err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(wholeJSON(t, doc), got.String()); diff != "" {
				t.Errorf("streamed JSON differs from the whole document's (-whole +streamed):\n%s", diff)
			}
		})
	}
}

// TestASFFStreamed: the same for the ASFF array, and ASFF (the findings
// for Security Hub) holds the findings that RenderASFF writes.
func TestASFFStreamed(t *testing.T) {
	for name, doc := range streamDocs() {
		t.Run(name, func(t *testing.T) {
			opts := ASFFOptions{Region: "eu-west-1", ProductVersion: "1.2.3"}
			var got bytes.Buffer
			if err := RenderASFF(&got, doc, opts); err != nil {
				t.Fatalf("RenderASFF: %v", err)
			}
			if diff := cmp.Diff(wholeJSON(t, ASFF(doc, opts)), got.String()); diff != "" {
				t.Errorf("streamed ASFF differs from the whole array's (-whole +streamed):\n%s", diff)
			}
		})
	}
}

// TestOCSFStreamed: one line per event of OCSF, in order.
func TestOCSFStreamed(t *testing.T) {
	for name, doc := range streamDocs() {
		t.Run(name, func(t *testing.T) {
			opts := OCSFOptions{ProductVersion: "1.2.3"}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			for _, e := range OCSF(doc, opts) {
				if err := enc.Encode(e); err != nil {
					t.Fatal(err)
				}
			}
			var got bytes.Buffer
			if err := RenderOCSF(&got, doc, opts); err != nil {
				t.Fatalf("RenderOCSF: %v", err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

// TestAppendIndented: appendIndented indents the encoder's compact JSON
// exactly as json.Indent does, whatever the strings hold.
func TestAppendIndented(t *testing.T) {
	values := []any{
		nil, true, 12.5, -3, "", "plain",
		`quote " backslash \ brackets {[]} comma , colon : at the end\`,
		"<root_account> & \u2028 \x00 é 🙂",
		[]any{}, map[string]any{}, []any{[]any{}, map[string]any{}, []any{1, []any{2}}},
		map[string]any{"a": []any{}, "b": map[string]any{"c": nil, "d": []string{"x", "y"}}, "e\"f": "g]"},
		fixtureDoc(), exportDoc().Findings,
	}
	for i, v := range values {
		compact, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, depth := range []int{0, 1, 3} {
			checkIndented(t, fmt.Sprintf("value %d, depth %d", i, depth), compact, depth)
		}
	}
}

func checkIndented(t *testing.T, name string, compact []byte, depth int) {
	t.Helper()
	var want bytes.Buffer
	if err := json.Indent(&want, compact, strings.Repeat("  ", depth), "  "); err != nil {
		t.Fatalf("%s: json.Indent: %v", name, err)
	}
	if got := appendIndented(nil, compact, depth); string(got) != want.String() {
		t.Errorf("%s: appendIndented(%s) =\n%s\nwant\n%s", name, compact, got, want.String())
	}
}

// FuzzAppendIndented checks appendIndented against json.Indent on any
// JSON, compacted as the encoder writes it.
func FuzzAppendIndented(f *testing.F) {
	for _, seed := range []string{`{"a":[1,{"b":""}],"c":{}}`, `["\"\\",[],{}]`, `"x"`, `{"k":"v:,{}[]"}`} {
		f.Add([]byte(seed), 1)
	}
	f.Fuzz(func(t *testing.T, in []byte, depth int) {
		var compact bytes.Buffer
		if json.Compact(&compact, in) != nil {
			return
		}
		checkIndented(t, "fuzz", compact.Bytes(), depth&7)
	})
}

// trimLinesWhole is how the table's lines lost their trailing spaces
// before the table streamed.
func trimLinesWhole(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// TestTrimWriter: whatever the writes are cut into, the output is the
// input without trailing spaces on any line.
func TestTrimWriter(t *testing.T) {
	tests := []string{
		"",
		"abc",
		"abc   ",
		"   ",
		"a  b  \n",
		"\n\n  \n",
		"  lead and trail  \nnext\t \n  \t\n",
		"tab at the end\t\n",
		"no newline at the end, spaces after   ",
		"é  ü  \n—* x  ",
	}
	for _, in := range tests {
		for _, size := range []int{1, 2, 3, 7, len(in) + 1} {
			t.Run(fmt.Sprintf("%q/%d", in, size), func(t *testing.T) {
				var out bytes.Buffer
				tw := newTrimWriter(&out)
				for p := in; p != ""; {
					n := min(size, len(p))
					if size%2 == 1 {
						tw.WriteString(p[:n])
					} else if _, err := tw.Write([]byte(p[:n])); err != nil {
						t.Fatal(err)
					}
					p = p[n:]
				}
				if err := tw.Flush(); err != nil {
					t.Fatal(err)
				}
				if got, want := out.String(), trimLinesWhole(in); got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			})
		}
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

var errWrite = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

// TestRenderWriteError: a writer that fails is reported by every format,
// however far the output got.
func TestRenderWriteError(t *testing.T) {
	doc := exportDoc()
	// Enough keys that the output outgrows the writers' buffers.
	for i := range 2000 {
		k := doc.Keys[i%len(doc.Keys)]
		k.UserName = fmt.Sprintf("user-%04d", i)
		doc.Keys = append(doc.Keys, k)
		f := doc.Findings[i%len(doc.Findings)]
		f.UserName = k.UserName
		doc.Findings = append(doc.Findings, f)
	}
	for _, f := range Formats() {
		var size countingWriter
		if err := Render(&size, doc, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, n := range []int{0, 100, 70000, int(size) - 1} {
			if n >= int(size) {
				continue // markdown lists at most markdownMaxFindings
			}
			t.Run(fmt.Sprintf("%s/after %d of %d bytes", f, n, size), func(t *testing.T) {
				if err := Render(&failingWriter{n: n}, doc, f); !errors.Is(err, errWrite) {
					t.Errorf("Render = %v, want %v", err, errWrite)
				}
			})
		}
	}
}

// BenchmarkRender renders a document of 20,000 keys, each with a finding,
// in every format: B/op is what rendering allocates (the Document aside),
// which must not grow with the output held whole.
func BenchmarkRender(b *testing.B) {
	doc := exportDoc()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	keys, findings := doc.Keys, doc.Findings
	doc.Keys, doc.Findings = nil, nil
	for i := range 20000 {
		k := keys[i%len(keys)]
		k.UserName = fmt.Sprintf("user-%05d", i)
		k.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		doc.Keys = append(doc.Keys, k)
		f := findings[i%len(findings)]
		f.UserName, f.KeyCreatedAt = k.UserName, k.CreatedAt
		doc.Findings = append(doc.Findings, f)
	}
	for _, f := range Formats() {
		b.Run(string(f), func(b *testing.B) {
			var n int64
			for b.Loop() {
				var c countingWriter
				if err := Render(&c, doc, f); err != nil {
					b.Fatal(err)
				}
				n = int64(c)
			}
			b.SetBytes(n)
		})
	}
}

// countingWriter counts and discards what it is given.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
