package web

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// TestDaemonHTTPSSessionsAndStream runs the real daemon listening beyond
// loopback: it serves HTTPS with the certificate `facegate cert` describes,
// a session survives a restart, and the live stream ends at shutdown, at a
// password change made with `facegate passwd`, and at logout.
func TestDaemonHTTPSSessionsAndStream(t *testing.T) {
	bin := testenv.FacegateBinary(t)
	dir := t.TempDir()
	cam := filepath.Join(dir, "camera")
	if err := os.MkdirAll(cam, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(testenv.Face(t, "df01", "img2.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cam, "a.jpg"), b, 0o644)
	port := testenv.FreePort(t)
	cfgPath := filepath.Join(dir, "facegate.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`device_id = "door-tls"
data_dir = %q
models_dir = %q
[camera]
source = "dir:%s"
fps = 4
[door]
gpio = "sim"
[mqtt]
broker = ""
[web]
listen = "0.0.0.0:%d"
`, filepath.Join(dir, "var"), testenv.ModelsDir(t), cam, port)), 0o644)
	passwd := func(pw string) {
		t.Helper()
		cmd := exec.Command(bin, "passwd", "-config", cfgPath, "-user", testUser)
		cmd.Stdin = strings.NewReader(pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("facegate passwd: %v\n%s", err, out)
		}
	}
	passwd(testPass)

	// The operator reads the fingerprint before the first start.
	out, err := exec.Command(bin, "cert", "-config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("facegate cert: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`SHA-256 fingerprint: ([0-9A-F:]{95})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("facegate cert printed no fingerprint:\n%s", out)
	}
	fp := string(m[1])
	certFile := filepath.Join(dir, "var", "web-cert.pem")
	pool := trustPool(t, certFile)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "door-tls"}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	start := func() *daemon {
		d := startDaemon(t, bin, cfgPath)
		waitFor60(t, "the daemon's HTTPS page", func() bool {
			resp, err := client.Get(base + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		}, d.exited)
		return d
	}
	status := func(path string) int {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	login := func(pw string) {
		t.Helper()
		resp, err := client.PostForm(base+"/login", map[string][]string{"user": {testUser}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: status %d", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if !c.Secure {
				t.Errorf("cookie %s over HTTPS is not Secure", c.Name)
			}
		}
	}

	d := start()
	if !strings.Contains(d.logs.String(), "sha256="+fp) {
		t.Errorf("the daemon does not log the fingerprint %s", fp)
	}
	login(testPass)
	stream := openStream(t, base, client)
	if err := d.stop(); err != nil {
		t.Fatalf("daemon exit: %v", err)
	}
	streamEnds(t, stream, "the daemon stopped")

	// The session survives the restart; the certificate is the same.
	d = start()
	if code := status("/api/people"); code != http.StatusOK {
		t.Fatalf("session after a restart: status %d, want 200", code)
	}
	if strings.Contains(d.logs.String(), "generated a self-signed certificate") {
		t.Error("the certificate was generated again on restart")
	}

	// facegate passwd ends the session, and the stream with it.
	stream = openStream(t, base, client)
	passwd("another-password-2")
	streamEnds(t, stream, "facegate passwd")
	if code := status("/api/people"); code != http.StatusUnauthorized {
		t.Fatalf("session after facegate passwd: status %d, want 401", code)
	}

	// Logout ends the stream.
	login("another-password-2")
	stream = openStream(t, base, client)
	resp, err := client.Post(base+"/logout", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	streamEnds(t, stream, "logout")
}
