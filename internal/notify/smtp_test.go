package notify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// mailServer is a real SMTP server (github.com/emersion/go-smtp) in the
// test process: STARTTLS with a certificate made for the test, AUTH PLAIN
// only once TLS is on, and the mail it accepts kept.
type mailServer struct {
	addr   string
	host   string
	port   int
	caPEM  []byte
	caPool *x509.CertPool
	mu     sync.Mutex
	mails  []receivedMail
}

type receivedMail struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

const (
	smtpUser     = "keywarden"
	smtpPassword = "s3cret-smtp-password"
)

func newMailServer(t *testing.T, withTLS bool) *mailServer {
	t.Helper()
	ms := &mailServer{host: "127.0.0.1"}
	be := smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &mailSession{ms: ms, tls: isTLS}, nil
	})
	srv := smtp.NewServer(be)
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	srv.AllowInsecureAuth = false
	if withTLS {
		cert, caPEM := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ms.caPEM = caPEM
		ms.caPool = x509.NewCertPool()
		ms.caPool.AppendCertsFromPEM(caPEM)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	ms.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ms
}

func (ms *mailServer) received() []receivedMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]receivedMail(nil), ms.mails...)
}

type mailSession struct {
	ms   *mailServer
	tls  bool
	user string
	mail receivedMail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPassword {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.mail = receivedMail{from: from, user: s.user}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mail.to = append(s.mail.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mail.data = b
	s.mail.tls = s.tls
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, s.mail)
	s.ms.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1, its own CA.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keywarden test mail server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestSMTP sends a digest through the server: STARTTLS, AUTH PLAIN, and a
// multipart/alternative mail with the text and HTML the renderer made.
func TestSMTP(t *testing.T) {
	ms := newMailServer(t, true)
	ch, err := notify.NewSMTP(notify.SMTPOptions{Host: ms.host, Port: ms.port, From: "Keywarden <keywarden@example.com>",
		Username: smtpUser, Password: notify.NewSecret(smtpPassword), StartTLS: true, RootCAs: ms.caPool,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ownerD, _ := digests(t)
	ownerD.To.Contact = "Alice Ärger <alice@example.com>, bob@example.com"
	m, err := notify.DefaultRenderer().Render(ownerD, ch.Name())
	if err != nil {
		t.Fatal(err)
	}
	m.Subject = "keywarden: 3 Schlüssel need your attention"
	if err := ch.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	mails := ms.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails received, want 1", len(mails))
	}
	got := mails[0]
	if !got.tls || got.user != smtpUser || got.from != "keywarden@example.com" ||
		strings.Join(got.to, ",") != "alice@example.com,bob@example.com" {
		t.Errorf("envelope: tls %v, user %q, from %q, to %q", got.tls, got.user, got.from, got.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(got.data)))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, got.data)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject %q (%v), want %q", subject, err, m.Subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Name != "Alice Ärger" || to[1].Address != "bob@example.com" {
		t.Errorf("To %v (%v)", to, err)
	}
	for k, want := range map[string]string{
		"From": `"Keywarden" <keywarden@example.com>`, "Date": t0.Format(time.RFC1123Z), "Mime-Version": "1.0",
		"Auto-Submitted": "auto-generated", "X-Keywarden-Run": ownerD.RunID,
	} {
		if got := msg.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if id := msg.Header.Get("Message-Id"); !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p) // quoted-printable, decoded by the reader
		ct, cp, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if cp["charset"] != "utf-8" {
			t.Errorf("part %s: charset %q", ct, cp["charset"])
		}
		parts = append(parts, ct)
		want := m.Text
		if ct == "text/html" {
			want = m.HTML
		}
		if strings.ReplaceAll(string(body), "\r\n", "\n") != want {
			t.Errorf("part %s differs from the rendered one:\n%s", ct, body)
		}
	}
	if strings.Join(parts, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", parts)
	}
}

func TestSMTPFailures(t *testing.T) {
	ms := newMailServer(t, true)
	plain := newMailServer(t, false)
	opts := func(ms *mailServer) notify.SMTPOptions {
		return notify.SMTPOptions{Host: ms.host, Port: ms.port, From: "keywarden@example.com", Username: smtpUser,
			Password: notify.NewSecret(smtpPassword), StartTLS: true, RootCAs: ms.caPool}
	}
	ownerD, _ := digests(t)
	m, _ := notify.DefaultRenderer().Render(ownerD, channelconfig.TypeSMTP)
	for _, tt := range []struct {
		name      string
		o         notify.SMTPOptions
		contact   string
		want      string
		permanent bool
	}{
		{"wrong password", func() notify.SMTPOptions { o := opts(ms); o.Password = notify.NewSecret("nope"); return o }(), "", "AUTH PLAIN", true},
		{"STARTTLS required, not offered", opts(plain), "", "does not offer STARTTLS", true},
		{"certificate not trusted", func() notify.SMTPOptions { o := opts(ms); o.RootCAs = x509.NewCertPool(); return o }(), "", "STARTTLS", true},
		{"not an address", opts(ms), "#channel", "not an e-mail address", true},
		{"nobody listening", func() notify.SMTPOptions { o := opts(ms); o.Port = closedPort(t); return o }(), "", "connect to", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := notify.NewSMTP(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			msg := m
			if tt.contact != "" {
				msg.To.Contact = tt.contact
			}
			err = ch.Send(t.Context(), msg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Send = %v, want an error containing %q", err, tt.want)
			}
			if errors.Is(err, notify.ErrPermanent) != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", !tt.permanent, tt.permanent, err)
			}
			if strings.Contains(err.Error(), smtpPassword) {
				t.Errorf("the error holds the password: %v", err)
			}
		})
	}
	if n := len(ms.received()) + len(plain.received()); n != 0 {
		t.Errorf("%d mails went through", n)
	}
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestOpenSMTP opens an SMTP channel from a policy, its password from the
// environment and its CA from a file beside the policy, and sends.
func TestOpenSMTP(t *testing.T) {
	ms := newMailServer(t, true)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ms.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pol := parsePolicy(t, `version: 1
notifications:
  channels:
    email:
      type: smtp
      smtp:
        host: 127.0.0.1
        port: `+strconv.Itoa(ms.port)+`
        from: keywarden@example.com
        username_env: SMTP_USER
        password_env: SMTP_PASSWORD
        ca_file: ca.pem
`)
	env := notify.Env{Dir: dir, LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"SMTP_USER": smtpUser, "SMTP_PASSWORD": smtpPassword + "\n"}[k]
		return v, ok
	}}
	chs, errs := notify.Builtin(nil).Open(pol.Notifications, env)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	ownerD, _ := digests(t)
	m, _ := notify.DefaultRenderer().Render(ownerD, chs["email"].Name())
	if err := chs["email"].Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := ms.received(); len(got) != 1 || !got[0].tls || got[0].to[0] != "alice@example.com" {
		t.Errorf("received %+v", got)
	}
}
