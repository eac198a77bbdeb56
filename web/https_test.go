package web

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/facegate/facegate/config"
)

func TestUsesTLS(t *testing.T) {
	for _, c := range []struct {
		w    config.Web
		want bool
	}{
		{config.Web{Listen: "127.0.0.1:8080"}, false},
		{config.Web{Listen: "localhost:8080"}, false},
		{config.Web{Listen: "[::1]:8080"}, false},
		{config.Web{Listen: "0.0.0.0:8443"}, true},
		{config.Web{Listen: ":8443"}, true},
		{config.Web{Listen: "192.168.1.20:443"}, true},
		{config.Web{Listen: "door.example:443"}, true},
		{config.Web{Listen: "0.0.0.0:8080", PlainHTTP: true}, false},
		{config.Web{Listen: "127.0.0.1:8443", CertFile: "c.pem", KeyFile: "k.pem"}, true},
	} {
		if got := UsesTLS(c.w); got != c.want {
			t.Errorf("UsesTLS(%+v) = %v, want %v", c.w, got, c.want)
		}
	}
}

// beyondLoopback configures the page to listen on every address, where
// HTTPS is the default (the test still connects through 127.0.0.1).
func beyondLoopback(c *config.Config) { c.Web.Listen = "0.0.0.0:8443" }

func trustPool(t *testing.T, certFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no PEM certificate", certFile)
	}
	return pool
}

// TestHTTPSWithGeneratedCertificate: beyond loopback the page speaks TLS
// with a self-signed ECDSA certificate generated under data_dir, whose
// names and fingerprint are what the operator is told.
func TestHTTPSWithGeneratedCertificate(t *testing.T) {
	e := newEnv(t, beyondLoopback)
	cert := e.srv.Cert()
	if cert == nil || !cert.SelfSigned || !cert.Generated {
		t.Fatalf("no generated certificate: %+v", cert)
	}
	if cert.CertFile != filepath.Join(e.cfg.DataDir, "web-cert.pem") || cert.KeyFile != filepath.Join(e.cfg.DataDir, "web-key.pem") {
		t.Fatalf("certificate files %s %s, want them under data_dir", cert.CertFile, cert.KeyFile)
	}
	if st, err := os.Stat(cert.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	addr := strings.TrimPrefix(e.url, "https://")
	// A real handshake that verifies the certificate against itself, by the
	// device name.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: trustPool(t, cert.CertFile), ServerName: e.cfg.DeviceID})
	if err != nil {
		t.Fatalf("TLS handshake with the generated certificate: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("certificate key is %T, want ECDSA", leaf.PublicKey)
	}
	host, _ := os.Hostname()
	for _, n := range []string{e.cfg.DeviceID, host, "localhost"} {
		if !slices.Contains(leaf.DNSNames, n) {
			t.Errorf("certificate names %v lack %q", leaf.DNSNames, n)
		}
	}
	if !slices.ContainsFunc(leaf.IPAddresses, func(ip net.IP) bool { return ip.String() == "127.0.0.1" }) {
		t.Errorf("certificate addresses %v lack 127.0.0.1", leaf.IPAddresses)
	}
	sum := sha256.Sum256(leaf.Raw)
	if fp := Fingerprint(leaf.Raw); fp != cert.Fingerprint || strings.ReplaceAll(fp, ":", "") != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Fatalf("served certificate fingerprint %s, reported %s", fp, cert.Fingerprint)
	}
	if !strings.Contains(e.logs.String(), "sha256="+cert.Fingerprint) {
		t.Errorf("the fingerprint is not in the log:\n%s", e.logs.String())
	}
	// Another name does not verify: the SANs mean something.
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: trustPool(t, cert.CertFile), ServerName: "evil.example"}); err == nil {
		c.Close()
		t.Fatal("the certificate verified for evil.example")
	}
	// Plain HTTP is not served on that port.
	if resp, err := http.Get("http://" + addr + "/login"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP answered 200: %q", body)
		}
	}
	// Over TLS: cookies are Secure; the footer shows the fingerprint.
	c := e.client()
	resp, err := c.PostForm(e.url+"/login", map[string][]string{"user": {testUser}, "password": {testPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) < 2 {
		t.Fatalf("login over HTTPS: status %d cookies %v", resp.StatusCode, resp.Cookies())
	}
	for _, ck := range resp.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s over HTTPS is not Secure", ck.Name)
		}
	}
	if _, body := e.do(c, "GET", "/", nil, ""); !strings.Contains(string(body), cert.Fingerprint) {
		t.Error("the page footer does not show the certificate fingerprint")
	}
	// A restart keeps the certificate.
	again, err := New(e.cfg, Deps{DB: e.db})
	if err != nil {
		t.Fatal(err)
	}
	if again.Cert().Generated || again.Cert().Fingerprint != cert.Fingerprint {
		t.Fatalf("second start: generated %v, fingerprint %s (was %s)", again.Cert().Generated, again.Cert().Fingerprint, cert.Fingerprint)
	}
}

// TestBrowserHTTPSPageAndNoOpenRedirect: real Chromium, trusting only the
// generated certificate's key, logs in from
// /login?next=/%09/evil.example and must stay on the appliance.
func TestBrowserHTTPSPageAndNoOpenRedirect(t *testing.T) {
	e := newEnv(t, beyondLoopback)
	cert := e.srv.Cert()
	leaf := parsePEMCert(t, cert.CertFile)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	ctx := browser(t, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
	step(t, ctx, "log in from a crafted link", chromedp.Navigate(e.url+"/login?next=/%09/evil.example"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#user"), testUser), chromedp.SendKeys(chromedp.CSS("#password"), testPass),
		chromedp.Click(chromedp.CSS("#login-submit")))
	eventually(t, ctx, "the people page of the appliance",
		`location.origin === "`+e.url+`" && location.pathname === "/" && !!document.querySelector("#add-form")`)
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, e.url+"/") {
		t.Fatalf("after login the browser is at %q, not on %s", loc, e.url)
	}
	if fp := value(t, ctx, "footer", chromedp.Text(chromedp.CSS("#cert-fingerprint"))); fp != cert.Fingerprint {
		t.Fatalf("footer fingerprint %q, want %q", fp, cert.Fingerprint)
	}
}

func parsePEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
