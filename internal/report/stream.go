package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"iter"
)

// Every format is written as it is made, through a buffered writer: no
// renderer holds its whole output in memory, so that a scan of a large
// organization costs the same memory in every format.

// writeBufSize is the buffer of the writer a renderer writes through.
const writeBufSize = 64 << 10

// jsonStream writes one JSON value piece by piece, exactly as
// json.Encoder with SetIndent("", "  ") and SetEscapeHTML(false) writes it
// whole: each part (a field's value, an array's element) is encoded on its
// own, indented for its depth, and written out before the next is made.
// The first error sticks: later writes do nothing, and flush returns it.
type jsonStream struct {
	w        *bufio.Writer
	buf      bytes.Buffer  // one part at a time, compact
	enc      *json.Encoder // into buf
	indented []byte        // the part indented
	err      error
}

func newJSONStream(w io.Writer) *jsonStream {
	s := &jsonStream{w: bufio.NewWriterSize(w, writeBufSize)}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	return s
}

// raw writes text as it is.
func (s *jsonStream) raw(text string) {
	if s.err == nil {
		_, s.err = s.w.WriteString(text)
	}
}

// newline starts a line at depth (two spaces a level).
func (s *jsonStream) newline(depth int) {
	s.raw("\n")
	for range depth {
		s.raw("  ")
	}
}

// value writes v, whose own first line continues the current line and
// whose nested lines are indented one level below depth.
func (s *jsonStream) value(v any, depth int) {
	if s.err != nil {
		return
	}
	s.buf.Reset()
	if s.err = s.enc.Encode(v); s.err != nil {
		return
	}
	b := s.buf.Bytes()
	s.indented = appendIndented(s.indented[:0], b[:len(b)-1], depth) // without Encode's newline
	_, s.err = s.w.Write(s.indented)
}

// appendIndented appends src, compact JSON as json.Encoder writes it, to
// dst indented as json.Indent(dst, src, prefix, "  ") does with a prefix of
// depth times two spaces (TestAppendIndented): a member or element a line,
// ": " after a name, {} and [] when empty. It is json.Indent without the
// validation, which costs more than the encoding itself; the encoder's own
// output needs none.
func appendIndented(dst, src []byte, depth int) []byte {
	newline := func() {
		dst = append(dst, '\n')
		for range depth {
			dst = append(dst, "  "...)
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			dst = append(dst, src[i:min(j+1, len(src))]...)
			i = j
		case '{', '[':
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, c, src[i+1])
				i++
				continue
			}
			dst = append(dst, c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// key starts an object member at depth: its name, a colon and a space.
// first says whether it is the object's first member.
func (s *jsonStream) key(name string, depth int, first bool) {
	if !first {
		s.raw(",")
	}
	s.newline(depth)
	s.value(name, depth)
	s.raw(": ")
}

// field writes a member of an object at depth whose value is written whole.
func (s *jsonStream) field(name string, v any, depth int, first bool) {
	s.key(name, depth, first)
	s.value(v, depth)
}

// streamArray writes items as a JSON array whose elements sit at depth+1,
// one element at a time: null for a nil slice, [] for an empty one, as
// json.Encoder writes them.
func streamArray[T any](s *jsonStream, items []T, depth int) {
	if items == nil {
		s.raw("null")
		return
	}
	streamSeq(s, func(yield func(*T) bool) {
		for i := range items {
			if !yield(&items[i]) {
				return
			}
		}
	}, depth)
}

// streamSeq writes the elements of seq as a JSON array whose elements sit
// at depth+1, each made only when it is written; [] when there are none.
func streamSeq[T any](s *jsonStream, seq iter.Seq[T], depth int) {
	n := 0
	for v := range seq {
		if s.err != nil {
			return
		}
		if n == 0 {
			s.raw("[")
		} else {
			s.raw(",")
		}
		n++
		s.newline(depth + 1)
		s.value(v, depth+1)
	}
	if n == 0 {
		s.raw("[]")
		return
	}
	s.newline(depth)
	s.raw("]")
}

// flush ends the value with a newline, as json.Encoder does, and writes
// out what is buffered; it returns the first error met.
func (s *jsonStream) flush() error {
	s.raw("\n")
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// trimWriter writes what it is given through a buffered writer, without
// the spaces at the end of each line: the table's columns are padded, and
// no line of it may end in spaces. Only a line's trailing spaces are held
// back, until what follows them on the line is known.
type trimWriter struct {
	w      *bufio.Writer
	spaces int // spaces held back
}

func newTrimWriter(w io.Writer) *trimWriter {
	return &trimWriter{w: bufio.NewWriterSize(w, writeBufSize)}
}

func (t *trimWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, " \n")
		if i < 0 {
			if err := t.text(p); err != nil {
				return 0, err
			}
			break
		}
		if err := t.text(p[:i]); err != nil {
			return 0, err
		}
		if p[i] == ' ' {
			t.spaces++
		} else {
			t.spaces = 0 // the line ends: its trailing spaces are dropped
			if err := t.w.WriteByte('\n'); err != nil {
				return 0, err
			}
		}
		p = p[i+1:]
	}
	return n, nil
}

// text writes the spaces held back, then b, which holds neither spaces nor
// newlines.
func (t *trimWriter) text(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for ; t.spaces > 0; t.spaces-- {
		if err := t.w.WriteByte(' '); err != nil {
			return err
		}
	}
	_, err := t.w.Write(b)
	return err
}

// Flush writes out what is buffered; spaces still held back end the
// output and are dropped, as at the end of a line.
func (t *trimWriter) Flush() error { return t.w.Flush() }

// WriteString writes s, as Write does; an error is kept by the buffered
// writer and returned by Flush.
func (t *trimWriter) WriteString(s string) (int, error) { return t.Write([]byte(s)) }

// WriteByte writes c, as Write does.
func (t *trimWriter) WriteByte(c byte) error {
	_, err := t.Write([]byte{c})
	return err
}
