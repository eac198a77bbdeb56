package mqttlink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/facegate/facegate/internal/testenv"
)

// pki writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM, into dir.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T, dir, name string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, name+"-"+file)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return write(cn+".crt", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", kder)
	}
	p := pki{ca: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.clientCert, p.clientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// TestTLSVerifiesBroker: TLS with the broker verified against ca_file and a
// client certificate required by the broker; a broker certificate from
// another CA is refused (the link never connects).
func TestTLSVerifiesBroker(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := newPKI(t, dir, "good")
	other := newPKI(t, dir, "other")
	b := testenv.StartBroker(t, "cafile "+good.ca, "certfile "+good.serverCert, "keyfile "+good.serverKey,
		"require_certificate true")
	url := fmt.Sprintf("ssl://127.0.0.1:%d", b.Port)

	cfg := testConfig(url, 5)
	cfg.MQTT.CAFile, cfg.MQTT.CertFile, cfg.MQTT.KeyFile = good.ca, good.clientCert, good.clientKey
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "TLS connect", 15*time.Second, func() bool { return r.link.Status().Connected })

	bad := testConfig(url, 5)
	bad.DeviceID = "door-2"
	bad.MQTT.CAFile, bad.MQTT.CertFile, bad.MQTT.KeyFile = other.ca, good.clientCert, good.clientKey
	rb := startRig(t, bad, nil)
	testenv.WaitFor(t, "two failed attempts", 15*time.Second, func() bool {
		return metricValue(t, rb.reg, "facegate_mqtt_connect_failures_total") >= 2
	})
	if rb.link.Status().Connected {
		t.Fatal("connected to a broker whose certificate is not signed by ca_file")
	}
	if c := rb.health.Report().Components[HealthComponent]; c.OK || c.Detail == "" {
		t.Fatalf("health of the refused link: %+v", c)
	}
}

// TestUsernamePassword: the broker requires a password; the right one
// connects, a wrong one is refused.
func TestUsernamePassword(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "passwd")
	if out, err := exec.Command("mosquitto_passwd", "-c", "-b", pw, "door", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v %s", err, out)
	}
	b := testenv.StartBroker(t, "allow_anonymous false", "password_file "+pw)
	cfg := testConfig(b.URL, 5)
	cfg.MQTT.Username, cfg.MQTT.Password = "door", "s3cret"
	r := startRig(t, cfg, nil)
	testenv.WaitFor(t, "connect with password", 10*time.Second, func() bool { return r.link.Status().Connected })

	bad := cfg
	bad.DeviceID, bad.MQTT.Password = "door-2", "wrong"
	rb := startRig(t, bad, nil)
	testenv.WaitFor(t, "refused", 10*time.Second, func() bool {
		return metricValue(t, rb.reg, "facegate_mqtt_connect_failures_total") >= 1
	})
	if rb.link.Status().Connected {
		t.Fatal("connected with a wrong password")
	}
}
