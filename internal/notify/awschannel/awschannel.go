// Package awschannel holds the notify channels that deliver through AWS:
// an SNS topic (NewSNS) and e-mail through Amazon SES (NewSES). They live
// apart from package notify so that notify never imports the AWS SDK; they
// plug into it through notify.Channel.
//
// Errors never include a message's subject or body (digests name users and
// keys). They name the channel, the topic or the recipient, and wrap the
// SDK's error, so that errors.As finds the smithy.APIError and its code.
//
// Retries: notify.Channel's contract is that the caller retries a failed
// Send with backoff. Throttling is reported as an error that wraps
// ErrThrottled, so a caller that wants to can tell it apart; SNS's throttle
// error (code Throttled, HTTP 429) in particular is not retried by the SDK's
// standard retryer, so one burst would otherwise lose the message.
// Errors that no retry can fix (an unknown topic, an invalid address, an
// unverified sender) wrap ErrPermanent.
package awschannel

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aws/smithy-go"
)

var (
	// ErrThrottled is wrapped by the error of a Send that AWS throttled;
	// trying again after a pause is expected to succeed.
	ErrThrottled = errors.New("throttled by AWS, try again later")
	// ErrPermanent is wrapped by the error of a Send that cannot succeed
	// as configured: the same call will fail again until the configuration
	// (topic, sender identity, recipient address) is fixed.
	ErrPermanent = errors.New("not retryable")
)

// apiCode returns the AWS error code in err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// cleanLine makes s a single line of printable text: invalid UTF-8 becomes
// U+FFFD, runs of control characters, line breaks and other white space
// become one space, invisible format characters (bidi overrides, zero-width
// characters) are dropped, and the ends are trimmed.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			space = true
		case unicode.Is(unicode.Cf, r):
			// dropped
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cutUTF16 shortens s so that it has at most max UTF-16 code units (AWS
// services count characters in their Java strings; for text in the Basic
// Multilingual Plane this equals the number of runes). A shortened s ends
// with "…", cut at a word boundary when there is one in the last third.
func cutUTF16(s string, max int) string {
	if utf16Len(s) <= max {
		return s
	}
	const ellipsis = "…" // one UTF-16 unit
	budget := max - 1
	n, end, lastSpace := 0, 0, -1
	for i, r := range s {
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1
		}
		if n+w > budget {
			break
		}
		if r == ' ' {
			lastSpace = i
		}
		n += w
		end = i + utf8.RuneLen(r)
	}
	if lastSpace > 0 && utf16Len(s[:lastSpace]) >= budget*2/3 {
		end = lastSpace
	}
	return strings.TrimRightFunc(s[:end], unicode.IsSpace) + ellipsis
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++
		}
	}
	return n
}

// cutBytes returns the longest prefix of s of at most max bytes that ends
// on a UTF-8 boundary, moved back to the end of a line when one is close
// (within 4 KiB), so that a digest is not cut in the middle of an item.
func cutBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	end := max
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	if nl := strings.LastIndexByte(s[:end], '\n'); nl >= 0 && end-nl <= 4<<10 {
		end = nl + 1
	}
	return s[:end]
}

// unicodeLetterDigitPunct reports whether r may begin an SNS Subject: a
// letter, a digit, or a punctuation mark (ASCII symbols such as $ and +
// included).
func unicodeLetterDigitPunct(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsPunct(r) ||
		(r < utf8.RuneSelf && unicode.IsSymbol(r))
}
