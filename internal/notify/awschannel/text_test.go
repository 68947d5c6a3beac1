package awschannel

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/notify"
)

func TestSNSSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"keywarden: 3 keys", "keywarden: 3 keys"},
		{"  a\r\nb\tc\x00\x7fd  ", "a b c d"},
		{"a\u2028b\u2029c\u0085d", "a b c d"},
		{"bidi\u202eevil\u200b", "bidievil"},
		{"bad utf8 \xff end", "bad utf8 \uFFFD end"},
		{"🔑 key", "key"},
		{"[keywarden] x", "[keywarden] x"},
		{"$5", "$5"},
		{"", ""},
		{"\n\t", ""},
		{strings.Repeat("x", 99), strings.Repeat("x", 99)},
		{strings.Repeat("x", 100), strings.Repeat("x", 98) + "…"},
		{strings.Repeat("é", 150), strings.Repeat("é", 98) + "…"},
		// astral characters count twice (UTF-16)
		{"a" + strings.Repeat("𝒳", 60), "a" + strings.Repeat("𝒳", 48) + "…"},
	}
	for _, tt := range tests {
		if got := snsSubject(tt.in); got != tt.want {
			t.Errorf("snsSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFitSNSMessage(t *testing.T) {
	short := "line 1\nline 2\n"
	if got := fitSNSMessage(short, MaxSNSMessage); got != short {
		t.Errorf("short message changed: %q", got)
	}

	line := strings.Repeat("é", 40) + "\n" // 81 bytes
	long := strings.Repeat(line, 4000)     // 324,000 bytes
	got := fitSNSMessage(long, MaxSNSMessage-100)
	if len(got) > MaxSNSMessage-100 {
		t.Errorf("fitted message is %d bytes, limit %d", len(got), MaxSNSMessage-100)
	}
	if !utf8.ValidString(got) {
		t.Error("fitted message is not valid UTF-8")
	}
	body, note, ok := strings.Cut(got, "\n\n[keywarden: message cut")
	if !ok {
		t.Fatalf("no truncation note at the end: …%q", got[len(got)-200:])
	}
	if !strings.HasPrefix(long, body) || !strings.HasSuffix(body, "\n") {
		t.Errorf("kept part is not a prefix of whole lines")
	}
	if !strings.Contains(note, "324000 bytes") {
		t.Errorf("note %q does not give the size", note)
	}
}

func TestCutBytes(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 0, ""},
		{"héllo", 2, "h"}, // not in the middle of é
		{"ab\ncd\nef", 7, "ab\ncd\n"},
	}
	for _, tt := range tests {
		if got := cutBytes(tt.s, tt.max); got != tt.want {
			t.Errorf("cutBytes(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestSNSInputFIFO(t *testing.T) {
	m := notify.Message{Subject: "s", Text: "t", Digest: notify.Digest{RunID: "r1"}}
	in, err := snsInput("arn:aws:sns:us-east-1:123456789012:digests.fifo", m)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.MessageGroupId) != "keywarden" || len(aws.ToString(in.MessageDeduplicationId)) != 64 {
		t.Errorf("FIFO: group %q, dedup %q", aws.ToString(in.MessageGroupId), aws.ToString(in.MessageDeduplicationId))
	}
	again, _ := snsInput("arn:aws:sns:us-east-1:123456789012:digests.fifo", m)
	if *again.MessageDeduplicationId != *in.MessageDeduplicationId {
		t.Error("the same message got another deduplication ID")
	}
	m.Text = "t2"
	other, _ := snsInput("arn:aws:sns:us-east-1:123456789012:digests.fifo", m)
	if *other.MessageDeduplicationId == *in.MessageDeduplicationId {
		t.Error("another message got the same deduplication ID")
	}
	std, _ := snsInput("arn:aws:sns:us-east-1:123456789012:digests", m)
	if std.MessageGroupId != nil || std.MessageDeduplicationId != nil {
		t.Error("a standard topic got FIFO fields")
	}
}

func TestIsSNSTopicARN(t *testing.T) {
	for s, want := range map[string]bool{
		"arn:aws:sns:us-east-1:123456789012:keywarden":           true,
		"arn:aws-us-gov:sns:us-gov-west-1:123456789012:k.fifo":   true,
		"arn:aws:sns:us-east-1:123456789012:keywarden:subscr-id": false,
		"arn:aws:sqs:us-east-1:123456789012:keywarden":           false,
		"alice@example.com": false,
		"":                  false,
	} {
		if got := IsSNSTopicARN(s); got != want {
			t.Errorf("IsSNSTopicARN(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzSNSSubject(f *testing.F) {
	for _, s := range []string{"keywarden: 3 keys", "a\r\nb", strings.Repeat("𝒳", 70), "\xff\xfe", "⚠️ x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := snsSubject(s)
		if !utf8.ValidString(got) {
			t.Fatalf("snsSubject(%q) = %q: not valid UTF-8", s, got)
		}
		if n := utf16Len(got); n >= 100 {
			t.Fatalf("snsSubject(%q) has %d UTF-16 units", s, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("snsSubject(%q) = %q: contains %U", s, got, r)
			}
		}
		if got != "" && !unicodeLetterDigitPunct([]rune(got)[0]) {
			t.Fatalf("snsSubject(%q) = %q: bad first character", s, got)
		}
	})
}

func FuzzFitSNSMessage(f *testing.F) {
	f.Add("line\n", 300)
	f.Add(strings.Repeat("é\n", 200), 250)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) {
			t.Skip()
		}
		max := 200 + (n&0xffff)%4096
		got := fitSNSMessage(s, max)
		if len(got) > max {
			t.Fatalf("%d bytes, limit %d", len(got), max)
		}
		if !utf8.ValidString(got) {
			t.Fatal("not valid UTF-8")
		}
	})
}
