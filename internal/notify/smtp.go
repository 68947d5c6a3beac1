package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// SMTPOptions configure an SMTP channel.
type SMTPOptions struct {
	Host string
	Port int // 0: 587
	// From is the sender: an address, with or without a name.
	From string
	// Username and Password authenticate with AUTH PLAIN, which is only
	// sent over TLS (or to localhost); an empty Username: no AUTH.
	Username string
	Password Secret
	// StartTLS requires STARTTLS; when false, STARTTLS is still used if
	// the server offers it.
	StartTLS bool
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// Now dates the messages; nil: time.Now.
	Now func() time.Time
}

// SMTP sends digests as e-mail (text and HTML alternatives) through an
// SMTP server, with net/smtp: STARTTLS, then AUTH PLAIN.
type SMTP struct {
	o    SMTPOptions
	from *mail.Address
}

// NewSMTP returns an SMTP channel.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	from, err := mail.ParseAddress(o.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: the sender %q is not an e-mail address", o.From)
	}
	if o.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if o.Port == 0 {
		o.Port = 587
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &SMTP{o: o, from: from}, nil
}

// Name returns smtp.
func (s *SMTP) Name() string { return channelconfig.TypeSMTP }

// String names the server.
func (s *SMTP) String() string { return "smtp " + net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port)) }

// Send mails m to the addresses of m.To.Contact (one or a list).
func (s *SMTP) Send(ctx context.Context, m Message) (err error) {
	to, err := mail.ParseAddressList(m.To.Contact)
	if err != nil {
		return Permanent(fmt.Errorf("%q is not an e-mail address", m.To.Contact))
	}
	msg, err := s.compose(to, m)
	if err != nil {
		return Permanent(err)
	}
	addr := net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}()
	c, err := smtp.NewClient(conn, s.o.Host)
	if err != nil {
		conn.Close()
		return smtpError("greeting from "+addr, err)
	}
	defer c.Close()
	if err := c.Hello(helloName()); err != nil {
		return smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: s.o.Host, RootCAs: s.o.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return smtpError("STARTTLS", err)
		}
	} else if s.o.StartTLS {
		return Permanent(fmt.Errorf("%s does not offer STARTTLS, which the channel requires (smtp.starttls)", addr))
	}
	if s.o.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return Permanent(fmt.Errorf("%s offers no AUTH, and the channel has a username", addr))
		}
		if err := c.Auth(smtp.PlainAuth("", s.o.Username, s.o.Password.Reveal(), s.o.Host)); err != nil {
			return smtpError("AUTH PLAIN as "+s.o.Username, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return smtpError("MAIL FROM", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return smtpError("RCPT TO "+a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", err)
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT
		// does not unsend it.
		return nil
	}
	return nil
}

// smtpError says which step failed; a 5xx answer is permanent, as is a
// refusal to authenticate without TLS.
func smtpError(step string, err error) error {
	err = fmt.Errorf("%s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) || strings.Contains(err.Error(), "unencrypted connection") {
		return Permanent(err)
	}
	return err
}

func helloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \r\n") {
		return "localhost"
	}
	return h
}

// compose writes the message: headers, then the text and HTML parts as
// multipart/alternative (text only when there is no HTML), both
// quoted-printable UTF-8.
func (s *SMTP) compose(to []*mail.Address, m Message) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	header("From", s.from.String())
	header("To", strings.Join(tos, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	header("Date", s.o.Now().Format(time.RFC1123Z))
	header("Message-ID", messageID(s.from.Address))
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	if m.Digest.RunID != "" && !strings.ContainsAny(m.Digest.RunID, "\r\n") {
		header("X-Keywarden-Run", m.Digest.RunID)
	}
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

func messageID(from string) string {
	domain := "keywarden.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	var r [12]byte
	rand.Read(r[:])
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}
