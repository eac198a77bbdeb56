package mqttlink

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"github.com/facegate/facegate/config"
)

// ClientTLS returns the TLS configuration for a client of m.Broker (nil for
// a plain tcp:// or ws:// broker), verified as the daemon's link verifies:
// for other clients of the same broker (the site sync, facegate site).
func ClientTLS(m config.MQTT) (*tls.Config, error) {
	u, err := url.Parse(m.Broker)
	if err != nil {
		return nil, fmt.Errorf("%w: broker %q: %w", ErrConfig, m.Broker, err)
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
		return tlsConfig(m, u.Hostname())
	}
	return nil, nil
}
