package mqttlink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/platform"
)

// ErrConfig is wrapped by configuration errors found by New.
var ErrConfig = errors.New("mqttlink: bad configuration")

// tlsConfig builds the TLS configuration: the broker certificate is verified
// against ca_file (or the system roots), with an optional client certificate.
func tlsConfig(m config.MQTT, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: m.InsecureSkipVerify}
	if m.CAFile != "" {
		pem, err := os.ReadFile(m.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: ca_file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: ca_file %s holds no PEM certificate", ErrConfig, m.CAFile)
		}
		tc.RootCAs = pool
	}
	if m.CertFile != "" || m.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate: %w", ErrConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// dial opens the network connection for paho (what paho's own openConnection
// does for these schemes, minus proxies) and wraps it in a keepAliveConn.
func (l *Link) dial(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	var (
		c   net.Conn
		err error
	)
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	case "ws", "wss":
		u := *uri
		u.User = nil
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		c, err = mqtt.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		err = fmt.Errorf("unsupported scheme %q", uri.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("mqttlink: dial %s: %w", uri.Redacted(), err)
	}
	kc := newKeepAliveConn(c, l.plan, func(reason string) {
		l.log.Warn("mqtt link dead, closing connection", "reason", reason, "keepalive", l.plan.keepAlive, "ping_timeout", l.plan.pingTimeout)
	}, l.m.pings.Inc)
	l.connMu.Lock()
	l.conn = kc
	l.connMu.Unlock()
	return kc, nil
}

// clientOptions builds the paho options. paho's own automatic reconnect is
// off: the link reconnects itself (see Link.connectLoop) so that every
// connection loss completes the outstanding publish tokens with an error
// (with CleanSession and paho's AutoReconnect they would never complete).
func (l *Link) clientOptions() (*mqtt.ClientOptions, error) {
	m := l.cfg.MQTT
	u, err := url.Parse(m.Broker)
	if err != nil {
		return nil, fmt.Errorf("%w: broker %q: %w", ErrConfig, m.Broker, err)
	}
	o := mqtt.NewClientOptions()
	o.AddBroker(m.Broker)
	// Client id, user name and password: withCredentials, at every connect.
	o.SetCleanSession(true)
	o.SetOrderMatters(true)
	o.SetKeepAlive(time.Duration(m.KeepaliveSeconds) * time.Second)
	o.SetPingTimeout(time.Duration(m.PingTimeoutSeconds) * time.Second)
	o.SetWriteTimeout(time.Duration(m.WriteTimeoutSeconds) * time.Second)
	o.SetConnectTimeout(l.connectTimeout())
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetMaxReconnectInterval(time.Duration(m.MaxReconnectSeconds) * time.Second)
	if l.prof.Will && l.topics.availability != "" {
		o.SetWill(l.topics.availability, "offline", 1, l.prof.Retain)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
		tc, err := tlsConfig(m, u.Hostname())
		if err != nil {
			return nil, err
		}
		if l.prof.Name == platform.AWSIoT && u.Port() == "443" {
			// MQTT with a client certificate on port 443 (AWS IoT Core).
			tc.NextProtos = []string{"x-amzn-mqtt-ca"}
		}
		o.SetTLSConfig(tc)
	}
	o.SetCustomOpenConnectionFn(l.dial)
	o.SetOnConnectHandler(l.onConnect)
	o.SetConnectionLostHandler(l.onLost)
	return o, nil
}

// connectTimeout bounds the TCP/TLS dial plus the CONNECT/CONNACK exchange.
func (l *Link) connectTimeout() time.Duration {
	return time.Duration(max(5, min(30, l.cfg.MQTT.PingTimeoutSeconds+l.cfg.MQTT.WriteTimeoutSeconds))) * time.Second
}
